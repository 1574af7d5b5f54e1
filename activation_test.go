package main

import (
	"os"
	"testing"
)

func TestPeerAddrFallbacks(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{"REMOTE_ADDR", "198.51.100.7", "198.51.100.7"},
		{"TCPREMOTEIP", "2001:db8::1", "2001:db8::1"},
		{"REMOTE_HOST", "203.0.113.9", "203.0.113.9"},
		{"REMOTE_ADDR", "not an address\nforged=1", "unknown"},
	} {
		t.Setenv(tc.env, tc.value)
		if got := peerAddr(nil); got != tc.want {
			t.Errorf("%s=%q: %q, want %q", tc.env, tc.value, got, tc.want)
		}
		os.Unsetenv(tc.env)
	}
}
