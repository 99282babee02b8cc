package heartbeat_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// TestDocTable keeps the sequence table in doc.go true: it is regenerated
// here and must appear in the package documentation verbatim.
func TestDocTable(t *testing.T) {
	classic := newTunerOrDie(heartbeat.Config{Strategy: heartbeat.Classic})
	adaptive := newTunerOrDie(heartbeat.Config{})
	net := idleNetwork(15 * time.Minute)
	var b strings.Builder
	b.WriteString("//\tping  classic             adaptive\n")
	for i := 1; i <= 18; i++ {
		ci, ai := classic.Interval(), adaptive.Interval()
		co, ao := net(ci), net(ai)
		classic.Observe(co)
		adaptive.Observe(ao)
		line := fmt.Sprintf("%4d  %-9v %-9v  %-9v %-9v", i, ci, co, ai, ao)
		b.WriteString("//\t" + strings.TrimRight(line, " ") + "\n")
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), b.String()) {
		t.Fatalf("doc.go lacks the current sequence table:\n%s", b.String())
	}
}
