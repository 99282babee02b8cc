// Package enum names the values of the module's integer enums from tables,
// the one way every String method and flag parser of the module does it:
//
//	var outcomeNames = [...]string{Expired: "expired", TimedOut: "timed-out"}
//
//	func (o Outcome) String() string { return enum.Name("Outcome", o, outcomeNames[:]) }
package enum

import "strconv"

// Name returns names[v], or typ(v), such as "Outcome(9)", for a value
// without a name (out of range, or an empty entry of the table).
func Name[T ~int](typ string, v T, names []string) string {
	if name, ok := Lookup(v, names); ok {
		return name
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

// Lookup returns names[v], and whether v has a name there, for a caller
// with a fallback of its own, such as a second table.
func Lookup[T ~int](v T, names []string) (string, bool) {
	if v >= 0 && int(v) < len(names) && names[v] != "" {
		return names[v], true
	}
	return "", false
}

// Parse returns the value whose name is s, and whether there is one.
func Parse[T ~int](s string, names []string) (T, bool) {
	for i, n := range names {
		if n != "" && n == s {
			return T(i), true
		}
	}
	return 0, false
}
