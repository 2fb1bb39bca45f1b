package main

import (
	"testing"

	"github.com/meshoptixiq/mesh/common/testenv"
)

func TestHelpListsTheEnvironment(t *testing.T) {
	testenv.HelpLists(t, run, "API_LISTEN", "GRAPH_BACKEND")
}
