package enum

import "testing"

type color int

var colorNames = [...]string{1: "red", 2: "green", 4: "blue"}

func TestName(t *testing.T) {
	for v, want := range map[color]string{1: "red", 2: "green", 4: "blue", 0: "color(0)", 3: "color(3)", 5: "color(5)", -1: "color(-1)"} {
		if got := Name("color", v, colorNames[:]); got != want {
			t.Errorf("Name(%d) = %q, want %q", int(v), got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	for v, want := range map[color]string{1: "red", 4: "blue", 0: "", 3: "", 5: "", -1: ""} {
		if got, ok := Lookup(v, colorNames[:]); got != want || ok != (want != "") {
			t.Errorf("Lookup(%d) = %q, %v", int(v), got, ok)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]color{"red": 1, "blue": 4} {
		if got, ok := Parse[color](s, colorNames[:]); !ok || got != want {
			t.Errorf("Parse(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "Red", "purple", "color(3)"} {
		if got, ok := Parse[color](s, colorNames[:]); ok {
			t.Errorf("Parse(%q) = %d, true", s, got)
		}
	}
}
