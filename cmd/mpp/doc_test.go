package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestManPageCoversEverything: every option, setting and exit status in
// the code is in mpp(1), and in --help.
func TestManPageCoversEverything(t *testing.T) {
	b, err := os.ReadFile("../../docs/mpp.1.md")
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	for name := range longOptions {
		if !strings.Contains(man, "**--"+name+"**") {
			t.Errorf("mpp(1) lacks --%s", name)
		}
		if !strings.Contains(usage, name) {
			t.Errorf("--help lacks %s", name)
		}
		key := strings.ReplaceAll(name, "-", "_")
		if !strings.Contains(man, "\n**"+key+"**") {
			t.Errorf("mpp(1) CONFIGURATION lacks %s", key)
		}
	}
	for mode := range refusedModes {
		if !strings.Contains(man, "**-b"+mode+"**") {
			t.Errorf("mpp(1) does not say -b%s is refused", mode)
		}
	}
	for _, code := range []int{exOK, exUsage, exDataErr, exUnavailable, exSoftware, exIOErr, exTempFail, exProtocol, exNoPerm, exConfig} {
		if !strings.Contains(man, "\n**"+strconv.Itoa(code)+"**") {
			t.Errorf("mpp(1) EXIT STATUS lacks %d", code)
		}
	}
}
