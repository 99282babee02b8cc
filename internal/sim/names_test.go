package sim

import "testing"

// TestKindNames: Kind names every value from its table (the names the
// fleet report shows) and prints a value without a name as Kind(n).
func TestKindNames(t *testing.T) {
	for k, want := range map[Kind]string{
		Home: "home", Cellular: "cellular", Office: "office",
		Kind(-1): "Kind(-1)", Office + 1: "Kind(3)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q want %q", int(k), got, want)
		}
	}
}
