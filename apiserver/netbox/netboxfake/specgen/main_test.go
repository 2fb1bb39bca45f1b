package main

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// The committed subset holds every operation the sync uses and every
// schema they reach: cutting it again changes nothing.
func TestCommittedSubsetIsClosed(t *testing.T) {
	data, err := os.ReadFile("../openapi-subset.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	again, err := Subset(doc)
	if err != nil {
		t.Fatalf("the committed subset lacks something: %v", err)
	}
	want, _ := json.Marshal(doc)
	got, _ := json.Marshal(again)
	if !reflect.DeepEqual(want, got) {
		t.Error("cutting the committed subset again changes it: regenerate it with specgen")
	}
}
