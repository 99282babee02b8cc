package imap

import "testing"

// TestSecurityNames: Security names every value from its table and prints
// a value without a name as Security(n).
func TestSecurityNames(t *testing.T) {
	for s, want := range map[Security]string{
		ImplicitTLS: "implicit-tls", StartTLS: "starttls", Plaintext: "plaintext",
		Security(-1): "Security(-1)", Plaintext + 1: "Security(3)",
	} {
		if got := s.String(); got != want {
			t.Errorf("Security(%d).String() = %q want %q", int(s), got, want)
		}
	}
}
