package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"
)

// TestNew: the certificate verifies for each of its addresses and names
// against its own pool, and not for another name; its PEM forms load as a
// key pair.
func TestNew(t *testing.T) {
	c, err := New("testcert", []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := c.TLS.Leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), DNSName: name, CurrentTime: time.Now()}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := c.TLS.Leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), DNSName: "example.com"}); err == nil {
		t.Error("verified for example.com, a name it was not made for")
	}
	if _, err := c.TLS.Leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: "localhost"}); err == nil {
		t.Error("verified against an empty pool")
	}
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatalf("PEM forms: %v", err)
	}
	if b, _ := pem.Decode(c.CertPEM); b == nil || string(b.Bytes) != string(pair.Certificate[0]) || string(b.Bytes) != string(c.TLS.Certificate[0]) {
		t.Error("CertPEM does not hold the certificate of TLS")
	}
}
