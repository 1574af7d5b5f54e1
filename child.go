package main

import (
	"bytes"
	"strings"
)

// What the programs mppd runs (the delivery command, the PAM helper)
// share: their PATH, and how much of their output is kept.

// childPath is the whole PATH of every program mppd runs, and where a
// -sendmail command given without a slash is looked for: inetd starts its
// servers with no PATH at all, so mppd never relies on its own.
const childPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// limitedBuffer keeps the first max bytes written to it and drops the rest,
// without ever failing the writer. The buffer is a field, not embedded: an
// embedded bytes.Buffer would lend it ReadFrom, and io.Copy (which os/exec
// uses for the command's output) would then fill it past max without
// calling Write.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	return strings.TrimSpace(b.buf.String())
}
