package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushbeat/pushbeat/internal/sim"
)

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestDefaultReport checks SPEC E2's default output: the Direct Push table with
// its notes, the comparison over every published timeout, the goals.
func TestDefaultReport(t *testing.T) {
	code, out, errOut := runArgs(t, "-days", "3", "-seeds", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"(1) The Direct Push table's eight examples", "PERIODIC mail", "stays at minimum; delays up to 4 min",
		"2: the 5m timeout", "4: the server's 15m minimum", "5: the document says push does not work",
		"(2) Strategy comparison: POISSON mail", "4m15s", "5m48s", "37m", "2h4m", "microg", "oracle",
		"Goals", "all four together",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(out, "\n2h4m "); n != 2 {
		t.Errorf("%d comparison blocks for the 2h4m timeout, want 2 (mail every 20m and 2h)", n)
	}
}

// TestJSON checks (SPEC E2) that -json prints one parsable object per run, with
// every documented field.
func TestJSON(t *testing.T) {
	code, out, errOut := runArgs(t, "-json", "-days", "2", "-seeds", "2", "-strategy", "adaptive,oracle")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	fields := []string{"scenario", "strategy", "timeout_s", "mail_s", "arrivals", "server_min_s", "server_max_s",
		"device_min_s", "device_max_s", "buffer_s", "sync_every_s", "probe_every_s", "days", "seed", "day1", "steady"}
	metrics := []string{"days", "pings", "rejected_pings", "timeouts", "syncs", "mails", "pings_per_day",
		"timeouts_per_day", "syncs_per_day", "deaf_s", "deaf_fraction", "fallback_s", "push_fraction", "push_works",
		"delay_mean_s", "delay_p99_s", "delay_max_s", "settled_interval_s", "final_interval_s"}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		lines++
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %d: %v: %s", lines, err, sc.Text())
		}
		for _, f := range fields {
			if _, ok := row[f]; !ok {
				t.Fatalf("line %d lacks %q: %s", lines, f, sc.Text())
			}
		}
		for _, period := range []string{"day1", "steady"} {
			m, _ := row[period].(map[string]any)
			for _, f := range metrics {
				if _, ok := m[f]; !ok {
					t.Fatalf("line %d: %s lacks %q", lines, period, f)
				}
			}
		}
	}
	// The Direct Push table: 8 examples × 3 strategies; the comparison: 11
	// timeouts × 2 mail rates × 2 strategies × 2 seeds.
	if want := 8*3 + 11*2*2*2; lines != want {
		t.Errorf("%d JSON lines, want %d", lines, want)
	}
}

// TestCustomScenario checks the single custom scenario and its chart (SPEC
// E2).
func TestCustomScenario(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "chart.svg")
	code, out, errOut := runArgs(t, "-timeout", "10m", "-mail", "20m", "-server-min", "0", "-server-max", "0",
		"-days", "2", "-seed", "3", "-strategy", "adaptive,classic", "-svg", svg)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "idle timeout 10m, poisson mail every 20m, server unrestricted, seed 3, 2 days") {
		t.Errorf("output lacks the scenario line:\n%s", out)
	}
	if strings.Contains(out, "aosp") || !strings.Contains(out, "classic") {
		t.Errorf("-strategy adaptive,classic not honoured:\n%s", out)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one path per strategy and the timeout line.
	dec := xml.NewDecoder(bytes.NewReader(data))
	paths := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
			paths++
		}
	}
	if paths != 2 || !bytes.Contains(data, []byte("network timeout 10m")) {
		t.Errorf("chart has %d paths (want 2) or lacks the timeout legend", paths)
	}
}

// TestFleet checks -fleet (SPEC S1-S6): the table has every fleet
// strategy and the outage line, -json has one row per strategy with the
// percentiles and the herd, and -svg draws one CDF per strategy.
func TestFleet(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "cdf.svg")
	code, out, errOut := runArgs(t, "-fleet", "200", "-days", "3", "-svg", svg)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, name := range sim.FleetStrategyNames() {
		if !strings.Contains(out, "\n"+name+" ") {
			t.Errorf("table lacks %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "busiest second") {
		t.Errorf("table lacks the outage line:\n%s", out)
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	lines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("CDF is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != len(sim.FleetStrategyNames()) {
		t.Errorf("CDF has %d lines, want %d", lines, len(sim.FleetStrategyNames()))
	}

	code, out, errOut = runArgs(t, "-fleet", "100", "-days", "3", "-json", "-fleet-strategy", "adaptive,oracle")
	if code != 0 {
		t.Fatalf("-json: exit %d, stderr %q", code, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 4 {
		t.Fatalf("-json: %d rows, want 2 strategies, the load and the herd:\n%s", len(rows), out)
	}
	var load struct {
		Load struct {
			PerHour []float64 `json:"requests_per_s_by_hour"`
		} `json:"load"`
	}
	if err := json.Unmarshal([]byte(rows[2]), &load); err != nil || len(load.Load.PerHour) != 3*24 {
		t.Errorf("-json load row: %v, %d hours (want 72): %s", err, len(load.Load.PerHour), rows[2])
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(rows[0]), &row); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mah_per_day", "mah_per_day_p99", "delay_p99_s", "requests_per_day", "steady_deaths_per_network_week"} {
		if _, ok := row[k]; !ok || row["strategy"] != "adaptive" {
			t.Errorf("-json row lacks %s or is not adaptive's: %v", k, row)
		}
	}
	if code, _, _ := runArgs(t, "-fleet", "10", "-fleet-strategy", "nosuch"); code != 2 {
		t.Errorf("-fleet-strategy nosuch: exit %d, want 2", code)
	}
}

// TestHelp checks that -h explains every flag and exits 0 (E2).
func TestHelp(t *testing.T) {
	code, out, errOut := runArgs(t, "-h")
	if code != 0 || errOut != "" {
		t.Fatalf("-h: exit %d, stderr %q; want 0 and the help on stdout only", code, errOut)
	}
	for _, flag := range []string{"-timeout", "-mail", "-arrivals", "-server-min", "-server-max", "-days", "-seed",
		"-seeds", "-strategy", "-sync-every", "-probe-every", "-json", "-svg"} {
		if !strings.Contains(out, "\n  "+flag) {
			t.Errorf("-h does not explain %s", flag)
		}
	}
}

// TestBadFlags checks that bad flags give a clear error and exit status 2
// (E2).
func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"-days", "abc"}, "invalid value"},
		{[]string{"-days", "0"}, "-days 0"},
		{[]string{"-days", "9999"}, "Days"},
		{[]string{"-seeds", "0"}, "-seeds 0"},
		{[]string{"-strategy", "greedy"}, `unknown strategy "greedy"`},
		{[]string{"-arrivals", "bursty"}, `unknown arrivals "bursty"`},
		{[]string{"-timeout", "-5m"}, "Timeout"},
		{[]string{"-mail", "1ms"}, "Mail"},
		{[]string{"-server-min", "20m", "-server-max", "10m"}, "ServerMin"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, out, errOut := runArgs(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing on stdout and %q", c.args, code, out, errOut, c.want)
		}
	}
	// A chart that cannot be written is a run-time failure, exit 1.
	code, _, errOut := runArgs(t, "-days", "1", "-svg", filepath.Join(t.TempDir(), "missing", "chart.svg"))
	if code != 1 || !strings.Contains(errOut, "writing the chart") {
		t.Errorf("unwritable -svg: exit %d, stderr %q", code, errOut)
	}
}

// TestSearch checks -search (SPEC S5): a row per timeout of the table, the
// fleet Adaptive's 42 minutes to the 28-minute maximum, and the least
// worst case any search can promise.
func TestSearch(t *testing.T) {
	code, out, errOut := runArgs(t, "-search")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 7 {
			continue
		}
		if _, err := time.ParseDuration(f[0]); err == nil {
			rows++
		}
		if f[0] == "2h4m" && (f[1] != "42m" || f[4] != "42m") {
			t.Errorf("2h4m row %q, want 42m on both paths", line)
		}
	}
	if rows != len(searchTimeouts) {
		t.Errorf("%d rows, want %d:\n%s", rows, len(searchTimeouts), out)
	}
	if !strings.Contains(out, "at best 1h7m21s in the worst case") {
		t.Errorf("output lacks the lower bound:\n%s", out)
	}
}
