package testenv

import "testing"

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
