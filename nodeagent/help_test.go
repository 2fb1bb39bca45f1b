package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHelpListsTheEnvironment(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("--help: %v\n%s", err, errOut.String())
	}
	// The list comes from the configuration loader itself: variables it
	// reads, with their defaults.
	for _, want := range []string{"usage:", "NODEAGENT_PROC_ROOT", "LOG_LEVEL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help output lacks %q:\n%s", want, out.String())
		}
	}
}
