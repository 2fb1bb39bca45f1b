// Package launch is the secrets hook of a daemon built without the secrets
// managers' SDKs: the node agent, where they would be a third of its
// memory on every node. When SECRETS_PROVIDER asks for a secrets manager,
// Start hands the process over to the helper command secretsexec (shipped
// beside the daemon), which fetches the secret as package secrets does and
// executes the daemon again with it merged into the environment. Daemons
// that link the SDKs call secrets.Start instead; the variables and the
// subcommands that skip the fetch are declared here, once, for both.
package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/meshoptixiq/mesh/common/edition"
)

const (
	// ProviderVar selects the provider; empty means no secrets manager.
	ProviderVar = "SECRETS_PROVIDER"
	// MarkerVar is set in the re-executed process so it does not fetch again.
	MarkerVar = "SECRETS_PROVIDER_LOADED"
	// Helper is the command that fetches for daemons built without the SDKs.
	Helper = "secretsexec"
)

// SkipsSecrets reports whether a daemon's first argument is a subcommand
// that reads no secret (probe, version, help): an exec probe must not call
// the secrets manager every few seconds.
func SkipsSecrets(args []string) bool {
	if len(args) < 2 {
		return false
	}
	switch args[1] {
	case "probe", "version", "--version", "-version", "-h", "--help", "help":
		return true
	}
	return false
}

// Wanted reports whether this process should fetch its secrets: a provider
// is named, they have not been fetched yet, and the subcommand reads them.
func Wanted(getenv func(string) string, args []string) bool {
	return getenv(ProviderVar) != "" && getenv(MarkerVar) == "" && !SkipsSecrets(args)
}

// Start is the hook the daemon's main calls first. Unless Wanted, it
// returns and the daemon starts as usual; otherwise it replaces the process
// with the helper, or prints why it could not and exits 1.
func Start(program string) {
	if !Wanted(os.Getenv, os.Args) {
		return
	}
	if err := handOver(); err != nil {
		fmt.Fprintln(os.Stderr, program+":", err)
		os.Exit(1)
	}
}

func handOver() error {
	if edition.Standard {
		return edition.Refuse(ProviderVar, "a secrets provider")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("secrets: finding this program's path for %s: %w", Helper, err)
	}
	helper, err := FindHelper(self)
	if err != nil {
		return err
	}
	// The helper runs: secretsexec DAEMON ARGV..., and executes DAEMON
	// with ARGV (the daemon's own, untouched) and the merged environment.
	argv := append([]string{helper, self}, os.Args...)
	if err := syscall.Exec(helper, argv, os.Environ()); err != nil {
		return fmt.Errorf("secrets: %s=%s: starting %s: %w", ProviderVar, os.Getenv(ProviderVar), helper, err)
	}
	return nil
}

// FindHelper is the helper beside the daemon's binary self, else on PATH.
func FindHelper(self string) (string, error) {
	beside := filepath.Join(filepath.Dir(self), Helper)
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	onPath, err := exec.LookPath(Helper)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("secrets: %s=%s needs the command %s, which fetches the secret for this program, beside %s or on PATH (the images ship it)",
				ProviderVar, os.Getenv(ProviderVar), Helper, self)
		}
		return "", fmt.Errorf("secrets: looking for %s: %w", Helper, err)
	}
	return onPath, nil
}
