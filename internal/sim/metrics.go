package sim

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// Ping is the record of one ping, passed to Scenario.OnPing when it ends.
// Times are since the start of the run.
type Ping struct {
	// Sent is when the ping was sent; Ended is when its answer came or its
	// deadline passed (equal to Sent for a rejected ping, or one the server
	// answered at once because mail was waiting).
	Sent, Ended time.Duration
	// Interval is the heartbeat the ping asked for.
	Interval time.Duration
	// Outcome is Expired, Changed or TimedOut; zero when Rejected.
	Outcome heartbeat.Outcome
	// Rejected reports that the server refused the interval as outside its
	// permissible range (EAS Ping status 5).
	Rejected bool
	// Probe reports that the device sent the ping to try push again after
	// falling back to scheduled sync.
	Probe bool
}

// Metrics measures one period of a run (day 1, or days 2 to D), or the
// merge of several. Counts are of events in the period; mail is counted,
// and its delay measured, in the period it arrived in.
type Metrics struct {
	// Days is the period's length in days.
	Days int
	// Pings counts every ping sent, including Rejected ones (status 5) and
	// probes; Rejected counts those the server refused as out of range.
	Pings, Rejected int
	// Timeouts counts the period's pings (by the time they were sent) that
	// got no answer by their deadline, so Timeouts <= Pings.
	Timeouts int
	// Syncs counts syncs: after an answer with changes, after a timeout,
	// and scheduled ones while push is given up.
	Syncs int
	// Mails counts mail that arrived in the period.
	Mails int
	// PingsPerDay, TimeoutsPerDay and SyncsPerDay divide the counts by Days.
	PingsPerDay, TimeoutsPerDay, SyncsPerDay float64
	// DeafTime is how long the connection was dead without the device
	// knowing (from the silent drop to the deadline); Deaf is its fraction
	// of the period.
	DeafTime time.Duration
	Deaf     float64
	// FallbackTime is how long the device had given up on push and synced
	// on a schedule (probes included); PushFraction is the rest's fraction
	// of the period, and PushWorks reports PushFraction >= 0.5.
	FallbackTime time.Duration
	PushFraction float64
	PushWorks    bool
	// DelayMean, DelayP99 and DelayMax describe the notification delay: from
	// a mail's arrival to the answer or sync that delivered it. P99 is the
	// nearest-rank 99th percentile. All are zero when no mail arrived.
	DelayMean, DelayP99, DelayMax time.Duration
	// Settled is the interval the strategy settled on: the median (the lower
	// of the middle two for an even count) of the intervals of the period's
	// pings the server accepted. Final is the interval of the last of them.
	// Both are zero when there were none.
	Settled, Final time.Duration

	delays    []time.Duration // sorted by finish
	intervals []time.Duration // sorted by finish
}

// finish computes the derived fields from the raw ones.
func (m *Metrics) finish() {
	if m.Days > 0 {
		days := float64(m.Days)
		span := float64(time.Duration(m.Days) * Day)
		m.PingsPerDay = float64(m.Pings) / days
		m.TimeoutsPerDay = float64(m.Timeouts) / days
		m.SyncsPerDay = float64(m.Syncs) / days
		m.Deaf = float64(m.DeafTime) / span
		m.PushFraction = 1 - float64(m.FallbackTime)/span
		m.PushWorks = m.PushFraction >= 0.5
	}
	slices.Sort(m.delays)
	slices.Sort(m.intervals)
	m.DelayMean, m.DelayP99, m.DelayMax = 0, 0, 0
	if n := len(m.delays); n > 0 {
		var sum float64
		for _, d := range m.delays {
			sum += float64(d)
		}
		m.DelayMean = time.Duration(sum / float64(n))
		m.DelayP99 = m.delays[(99*n+99)/100-1]
		m.DelayMax = m.delays[n-1]
	}
	m.Settled = 0
	if n := len(m.intervals); n > 0 {
		m.Settled = m.intervals[(n-1)/2]
	}
}

// MergeMetrics combines the metrics of several runs' periods, e.g. the
// steady states of one strategy over several seeds: counts and times add
// up, rates and fractions are recomputed, and the delay and interval
// statistics are taken over the pooled samples. Final is the last one's.
func MergeMetrics(ms ...Metrics) Metrics {
	var out Metrics
	for _, m := range ms {
		out.Days += m.Days
		out.Pings += m.Pings
		out.Rejected += m.Rejected
		out.Timeouts += m.Timeouts
		out.Syncs += m.Syncs
		out.Mails += m.Mails
		out.DeafTime += m.DeafTime
		out.FallbackTime += m.FallbackTime
		out.delays = append(out.delays, m.delays...)
		out.intervals = append(out.intervals, m.intervals...)
		out.Final = m.Final
	}
	out.finish()
	return out
}

// Result is one run: the scenario (with defaults applied), the strategy,
// and the metrics of day 1 (discovery) and of days 2 to Days (steady state;
// all zero for a one-day run).
type Result struct {
	Scenario Scenario
	Strategy string
	Day1     Metrics
	Steady   Metrics
}

// Merge combines runs of one strategy (e.g. over several seeds) into one
// Result with merged metrics; its Scenario is the first run's, with Days
// the total. It returns the zero Result for no runs.
func Merge(rs []Result) Result {
	if len(rs) == 0 {
		return Result{}
	}
	day1 := make([]Metrics, len(rs))
	steady := make([]Metrics, len(rs))
	days := 0
	for i, r := range rs {
		day1[i], steady[i] = r.Day1, r.Steady
		days += r.Scenario.Days
	}
	out := Result{Scenario: rs[0].Scenario, Strategy: rs[0].Strategy,
		Day1: MergeMetrics(day1...), Steady: MergeMetrics(steady...)}
	out.Scenario.Days = days
	return out
}

// seconds converts d to float seconds for JSON.
func seconds(d time.Duration) float64 { return d.Seconds() }

type jsonMetrics struct {
	Days           int     `json:"days"`
	Pings          int     `json:"pings"`
	Rejected       int     `json:"rejected_pings"`
	Timeouts       int     `json:"timeouts"`
	Syncs          int     `json:"syncs"`
	Mails          int     `json:"mails"`
	PingsPerDay    float64 `json:"pings_per_day"`
	TimeoutsPerDay float64 `json:"timeouts_per_day"`
	SyncsPerDay    float64 `json:"syncs_per_day"`
	DeafS          float64 `json:"deaf_s"`
	Deaf           float64 `json:"deaf_fraction"`
	FallbackS      float64 `json:"fallback_s"`
	PushFraction   float64 `json:"push_fraction"`
	PushWorks      bool    `json:"push_works"`
	DelayMeanS     float64 `json:"delay_mean_s"`
	DelayP99S      float64 `json:"delay_p99_s"`
	DelayMaxS      float64 `json:"delay_max_s"`
	SettledS       float64 `json:"settled_interval_s"`
	FinalS         float64 `json:"final_interval_s"`
}

// MarshalJSON writes the metrics as one flat object with durations in
// seconds; the field names are listed in the package documentation.
func (m Metrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonMetrics{
		Days: m.Days, Pings: m.Pings, Rejected: m.Rejected, Timeouts: m.Timeouts,
		Syncs: m.Syncs, Mails: m.Mails,
		PingsPerDay: m.PingsPerDay, TimeoutsPerDay: m.TimeoutsPerDay, SyncsPerDay: m.SyncsPerDay,
		DeafS: seconds(m.DeafTime), Deaf: m.Deaf,
		FallbackS: seconds(m.FallbackTime), PushFraction: m.PushFraction, PushWorks: m.PushWorks,
		DelayMeanS: seconds(m.DelayMean), DelayP99S: seconds(m.DelayP99), DelayMaxS: seconds(m.DelayMax),
		SettledS: seconds(m.Settled), FinalS: seconds(m.Final),
	})
}

type jsonResult struct {
	Scenario    string  `json:"scenario"`
	Strategy    string  `json:"strategy"`
	TimeoutS    float64 `json:"timeout_s"`
	MailS       float64 `json:"mail_s"`
	Arrivals    string  `json:"arrivals"`
	ServerMinS  float64 `json:"server_min_s"`
	ServerMaxS  float64 `json:"server_max_s"`
	DeviceMinS  float64 `json:"device_min_s"`
	DeviceMaxS  float64 `json:"device_max_s"`
	BufferS     float64 `json:"buffer_s"`
	SyncEveryS  float64 `json:"sync_every_s"`
	ProbeEveryS float64 `json:"probe_every_s"`
	Days        int     `json:"days"`
	Seed        uint64  `json:"seed"`
	Day1        Metrics `json:"day1"`
	Steady      Metrics `json:"steady"`
}

// MarshalJSON writes the result as one object: the scenario's parameters
// (durations in seconds, zero meaning "none" as in Scenario), the strategy,
// and the two periods' metrics under "day1" and "steady".
func (r Result) MarshalJSON() ([]byte, error) {
	sc := r.Scenario
	return json.Marshal(jsonResult{
		Scenario: sc.Name, Strategy: r.Strategy,
		TimeoutS: seconds(sc.Timeout), MailS: seconds(sc.Mail), Arrivals: sc.Arrivals.String(),
		ServerMinS: seconds(sc.ServerMin), ServerMaxS: seconds(sc.ServerMax),
		DeviceMinS: seconds(sc.Min), DeviceMaxS: seconds(sc.Max), BufferS: seconds(sc.Buffer),
		SyncEveryS: seconds(sc.SyncEvery), ProbeEveryS: seconds(sc.ProbeEvery),
		Days: sc.Days, Seed: sc.Seed, Day1: r.Day1, Steady: r.Steady,
	})
}
