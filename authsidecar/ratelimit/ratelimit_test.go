package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Limit{"600/minute": {600, time.Minute}, "10/second": {10, time.Second}, "5000/hour": {5000, time.Hour},
		"100/m": {100, time.Minute}, "600/5m": {600, 5 * time.Minute}} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "600", "0/minute", "-1/minute", "x/minute", "600/fortnight", "600/-5m"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", bad)
		}
	}
}

func TestLocalLimiterPerKey(t *testing.T) {
	l := New(Limit{3, time.Minute}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow(context.Background(), "alice"); !ok {
			t.Fatalf("Allow(alice) #%d = false, want true", i)
		}
	}
	ok, retry := l.Allow(context.Background(), "alice")
	if ok || retry <= 0 || retry > 20*time.Second {
		t.Errorf("Allow(alice) #4 = %v, %v; want false with a retry of at most 20s", ok, retry)
	}
	if ok, _ := l.Allow(context.Background(), "bob"); !ok {
		t.Error("Allow(bob) = false; limits must be per identity")
	}
}
