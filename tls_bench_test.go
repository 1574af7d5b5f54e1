package main

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
)

// BenchmarkTLSCertificateReread measures what reading the certificate and
// key anew costs each connection (tlsFiles.load), against a whole
// handshake over loopback with that certificate: the price of renewals
// without restarts. Compare the two ns/op: the handshake includes one load.
func BenchmarkTLSCertificateReread(b *testing.B) {
	ca := newTestCA(b)
	dir := b.TempDir()
	f := &tlsFiles{cert: filepath.Join(dir, "c.pem"), key: filepath.Join(dir, "k.pem")}
	ca.issue(b, f.cert, f.key, 1, "mpp.test", "127.0.0.1")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	conf := f.config()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, conf)
				tc.Handshake()
				tc.Close()
			}()
		}
	}()
	client := &tls.Config{RootCAs: ca.pool, ServerName: "mpp.test"}

	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.load(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handshake", func(b *testing.B) {
		for b.Loop() {
			c, err := tls.Dial("tcp", l.Addr().String(), client)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}
