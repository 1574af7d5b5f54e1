package main

import (
	"testing"
)

// TestGetrandom: the bytes are filled, and differ from call to call.
func TestGetrandom(t *testing.T) {
	var a, b [16]byte
	if !getrandom(a[:]) || !getrandom(b[:]) {
		t.Fatal("getrandom failed")
	}
	if a == b || a == [16]byte{} {
		t.Errorf("getrandom gave %x and %x", a, b)
	}
	if !getrandom(nil) {
		t.Error("an empty buffer is not an error")
	}
}
