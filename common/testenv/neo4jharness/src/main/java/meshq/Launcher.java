package meshq;

import java.nio.file.Path;
import java.time.Duration;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilder;
import org.neo4j.harness.Neo4jBuilders;

/**
 * Starts an in-process Neo4j 5 with bolt on 127.0.0.1:PORT (no HTTP, no
 * auth), prints "BOLT bolt://127.0.0.1:PORT" once it accepts connections,
 * and stops when standard input closes, so the Go test that started it
 * never leaves a server behind. An optional third argument limits the
 * memory of one transaction (db.memory.transaction.max, in bytes; 0 none);
 * an optional fourth, "tls", makes bolt require TLS. The harness then
 * serves a self-signed certificate for localhost that it writes under
 * WORKDIR/<server folder>/certificates/public.crt.
 */
public final class Launcher {
    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 4) {
            System.err.println("usage: Launcher PORT WORKDIR [TRANSACTION_MAX_BYTES [tls]]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        long transactionMax = args.length >= 3 ? Long.parseLong(args[2]) : 0L;
        Neo4jBuilder builder = Neo4jBuilders.newInProcessBuilder(Path.of(args[1]));
        if (args.length == 4 && args[3].equals("tls")) {
            builder = builder.withConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.REQUIRED);
        }
        Neo4j neo = builder
                .withDisabledServer()
                .withConfig(BoltConnector.enabled, true)
                .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .withConfig(HttpConnector.enabled, false)
                // A test database is small; the default page cache would
                // take half the machine's free memory.
                .withConfig(GraphDatabaseSettings.pagecache_memory, 64L << 20)
                // A test database grows from nothing in seconds: replanning
                // each statement as its statistics change would cost more
                // than the tests themselves.
                .withConfig(GraphDatabaseSettings.query_statistics_divergence_threshold, 1.0)
                .withConfig(GraphDatabaseSettings.cypher_min_replan_interval, Duration.ofHours(1))
                .withConfig(GraphDatabaseSettings.memory_transaction_max_size, transactionMax)
                .build();
        System.out.println("BOLT " + neo.boltURI());
        System.out.flush();
        try {
            while (System.in.read() != -1) {
                // Anything written is ignored; only the close matters.
            }
        } finally {
            neo.close();
        }
    }
}
