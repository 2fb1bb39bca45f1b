package testenv

import (
	"net"
	"strconv"
	"testing"
)

func TestStartRedisAnswersAndRestarts(t *testing.T) {
	r := StartRedis(t)
	if err := ping(r.Addr()); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
	r.Stop()
	if err := ping(r.Addr()); err == nil {
		t.Fatal("ping after Stop succeeded, want an error")
	}
	r.Start()
	if err := ping(r.Addr()); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}

func TestFreePortIsOutsideTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		p := FreePort(t)
		if p < portFloor || p >= low {
			t.Fatalf("FreePort() = %d, want a port in [%d, %d)", p, portFloor, low)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d from FreePort cannot be bound: %v", p, err)
		}
		ln.Close()
	}
}
