package main

import (
	"testing"

	"github.com/meshoptixiq/mesh/common/testenv"
)

func TestHelpListsTheEnvironment(t *testing.T) {
	testenv.HelpLists(t, run, "AUDIT_LOG_PATH", "SHIPPER_MAX_OPEN_FILES")
}
