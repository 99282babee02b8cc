package sim

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushbeat/pushbeat/heartbeat"
)

// Fleet is a simulated fleet of devices over a week (SPEC S1, S2, S4, S6):
// each device moves between its home Wi-Fi, its carrier's network and an
// office Wi-Fi on a daily plan, each network with an idle timeout drawn
// from the documented mixes, silent or resetting, sometimes changing; mail
// arrives as a Poisson process; every strategy runs on exactly the same
// devices, networks and mail. The zero value of every field means its
// default.
type Fleet struct {
	// Devices is the number of devices. Zero means 1,000.
	Devices int
	// Days is the length of the run. Zero means DefaultDays.
	Days int
	// Seed seeds everything random; runs with equal fleets are identical,
	// whatever Workers is.
	Seed uint64
	// Strategies are the strategies to compare; nil means
	// FleetStrategyNames().
	Strategies []string
	// Workers is how many goroutines share the devices. Zero means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Outage, if positive, is how long the server is down (SPEC S6),
	// starting at OutageAt: every request meanwhile, and every ping it
	// holds when the outage starts, is answered 503 with a Retry-After of
	// the time left, and the device waits that long plus a random 0-25%
	// (SPEC B1) before it syncs and pings again.
	Outage, OutageAt time.Duration
	// Load, if true, counts the requests per second of the first of
	// Strategies (its FleetResult.Load): the herd after an outage is the
	// library's. One counter per second per strategy and worker made the
	// whole run 2.6 times slower.
	Load bool

	// stop, if positive, ends every device's run then instead of after
	// Days: the outage test needs nothing after the recovery window.
	stop time.Duration
}

// Device range of the fleet's tuner strategies: the heartbeat package with
// Min lowered to FleetMin, so that the 60 s and 4 min paths of the mix can
// be held at all, and the Direct Push documentation's start and maximum.
const (
	FleetMin   = time.Minute
	FleetStart = heartbeat.DefaultMin
	FleetMax   = heartbeat.DefaultMax
	// fleetBuffer is every strategy's wait past the interval (SPEC T2).
	fleetBuffer = heartbeat.DefaultBuffer
	// delayBins bounds the delay histogram at 1 s resolution; longer
	// delays go to the last bin (the maximum is kept exactly).
	delayBins = 4 * 3600
	// energyStep and energyBins make the histogram of each device's
	// mAh per day.
	energyStep = 0.1
	energyBins = 50000
)

// Names of the fleet's strategies, besides those of NewStrategy.
const (
	StrategyMars = "mars" // WeChat's Mars smart heartbeat
	StrategyGCM  = "gcm"  // Google's push service: fixed 15 min Wi-Fi, 28 min mobile
)

// FleetStrategyNames returns the strategies a Fleet compares by default, in
// table order.
func FleetStrategyNames() []string {
	return []string{StrategyAdaptive, StrategyClassic, StrategyAOSP, StrategyMicroG, StrategyMars,
		StrategyGCM, StrategyFixedMin, StrategyOracle}
}

// FleetResult is what one strategy cost and delivered over the fleet.
type FleetResult struct {
	Strategy   string
	Devices    int
	DeviceDays float64
	// Requests counts pings and syncs (a 503 answer included); Wakeups
	// counts radio wake-ups from idle; MAh is the radio's charge above
	// idle (see Radio).
	Requests, Wakeups int64
	MAh               float64
	// Mails counts mail; DelayP50, DelayP99 and DelayMax describe the
	// delay from arrival to delivery (1 s resolution below 4 h).
	Mails                        int64
	DelayP50, DelayP99, DelayMax time.Duration
	// DeafSeconds is how long connections were silently dead before the
	// device knew, in seconds (a fleet's total overflows a Duration).
	DeafSeconds float64
	// Deaths counts connections the idle timeout of the path killed
	// because the device left them idle too long (self-caused), silent or
	// reset; SteadyDeaths counts those of days 2 to Days, and
	// SteadyNetworkWeeks the network-weeks of use they are spread over
	// (each network a device used on those days, for those days).
	Deaths, SteadyDeaths int64
	SteadyNetworkWeeks   float64
	// Per device-day: RequestsPerDay, WakeupsPerDay, MAhPerDay. Deaf is
	// DeafSeconds' share of the device time. DeathsPerWeek is per device;
	// SteadyDeathsPerNetworkWeek per network the device used.
	RequestsPerDay, WakeupsPerDay, MAhPerDay  float64
	Deaf                                      float64
	DeathsPerWeek, SteadyDeathsPerNetworkWeek float64
	// MAhP50, MAhP90 and MAhP99 are percentiles over devices of each
	// device's mAh per day (0.1 mAh resolution).
	MAhP50, MAhP90, MAhP99 float64
	// Load is the fleet's requests in each second of the run, for the
	// first strategy when Fleet.Load is set.
	Load []int32

	delays []int64 // histogram, 1 s bins
	energy []int64 // histogram of device mAh/day, energyStep bins
	uMAh   int64   // MAh in µAh, summed exactly

	steadyNetDays int64 // SteadyNetworkWeeks in days, summed exactly
	deafMs        int64 // DeafSeconds in ms, summed exactly
}

// finish derives the per-day and percentile fields.
func (r *FleetResult) finish() {
	r.MAh = float64(r.uMAh) / 1e6
	r.DeafSeconds = float64(r.deafMs) / 1e3
	r.SteadyNetworkWeeks = float64(r.steadyNetDays) / 7
	if r.DeviceDays > 0 {
		r.RequestsPerDay = float64(r.Requests) / r.DeviceDays
		r.WakeupsPerDay = float64(r.Wakeups) / r.DeviceDays
		r.MAhPerDay = r.MAh / r.DeviceDays
		r.Deaf = r.DeafSeconds / (r.DeviceDays * Day.Seconds())
		r.DeathsPerWeek = float64(r.Deaths) / r.DeviceDays * 7
	}
	if r.SteadyNetworkWeeks > 0 {
		r.SteadyDeathsPerNetworkWeek = float64(r.SteadyDeaths) / r.SteadyNetworkWeeks
	}
	r.DelayP50 = time.Duration(quantile(r.delays, 0.50)) * time.Second
	r.DelayP99 = time.Duration(quantile(r.delays, 0.99)) * time.Second
	r.MAhP50 = float64(quantile(r.energy, 0.50)) * energyStep
	r.MAhP90 = float64(quantile(r.energy, 0.90)) * energyStep
	r.MAhP99 = float64(quantile(r.energy, 0.99)) * energyStep
}

// quantile returns the nearest-rank q-quantile bin of histogram h.
func quantile(h []int64, q float64) int {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	rank = max(rank, 1)
	var seen int64
	for i, c := range h {
		seen += c
		if seen >= rank {
			return i
		}
	}
	return len(h) - 1
}

// DelayCDF returns the share of mail delivered within each whole second
// 0, 1, ... up to the 4-hour histogram bound.
func (r *FleetResult) DelayCDF() []float64 { return cdf(r.delays) }

// EnergyCDF returns the share of devices at or below each 0.1 mAh/day step.
func (r *FleetResult) EnergyCDF() []float64 { return cdf(r.energy) }

func cdf(h []int64) []float64 {
	var n int64
	last := 0
	for i, c := range h {
		n += c
		if c > 0 {
			last = i
		}
	}
	out := make([]float64, last+1)
	var seen int64
	for i := range out {
		seen += h[i]
		if n > 0 {
			out[i] = float64(seen) / float64(n)
		}
	}
	return out
}

func (r *FleetResult) merge(o *FleetResult) {
	r.Devices += o.Devices
	r.DeviceDays += o.DeviceDays
	r.Requests += o.Requests
	r.Wakeups += o.Wakeups
	r.uMAh += o.uMAh
	r.Mails += o.Mails
	r.DelayMax = max(r.DelayMax, o.DelayMax)
	r.deafMs += o.deafMs
	r.Deaths += o.Deaths
	r.SteadyDeaths += o.SteadyDeaths
	r.steadyNetDays += o.steadyNetDays
	for i, c := range o.delays {
		r.delays[i] += c
	}
	for i, c := range o.energy {
		r.energy[i] += c
	}
	for i, c := range o.Load {
		r.Load[i] += c
	}
}

// loadOf returns the load counters strategy i gets: the first one only.
func loadOf(i, seconds int) int {
	if i > 0 {
		return 0
	}
	return seconds
}

func newFleetResult(name string, seconds int) *FleetResult {
	r := &FleetResult{Strategy: name, delays: make([]int64, delayBins+1), energy: make([]int64, energyBins+1)}
	if seconds > 0 {
		r.Load = make([]int32, seconds)
	}
	return r
}

func (f Fleet) withDefaults() Fleet {
	orDefault(&f.Devices, 1000)
	orDefault(&f.Days, DefaultDays)
	orDefault(&f.Workers, runtime.GOMAXPROCS(0))
	if f.Strategies == nil {
		f.Strategies = FleetStrategyNames()
	}
	return f
}

// Run simulates the fleet and returns one result per strategy, in the
// order of f.Strategies. Devices are shared among f.Workers goroutines;
// the result does not depend on how. It returns an error wrapping
// ErrInvalidScenario for an unknown strategy or impossible numbers.
func (f Fleet) Run() ([]*FleetResult, error) {
	f = f.withDefaults()
	switch {
	case f.Devices < 0 || f.Days < 1 || f.Days > MaxDays || f.Workers < 0:
		return nil, fmt.Errorf("%w: fleet of %d devices over %d days with %d workers", ErrInvalidScenario, f.Devices, f.Days, f.Workers)
	case f.Outage < 0 || f.OutageAt < 0:
		return nil, fmt.Errorf("%w: outage %v at %v", ErrInvalidScenario, f.Outage, f.OutageAt)
	}
	for _, name := range f.Strategies {
		if _, err := newFleetStrategy(name, nil); err != nil {
			return nil, err
		}
	}
	seconds := 0
	if f.Load {
		seconds = f.Days * int(Day/time.Second)
	}
	const chunk = 256
	var next atomic.Int64
	parts := make([][]*FleetResult, f.Workers)
	var wg sync.WaitGroup
	for w := range parts {
		rs := make([]*FleetResult, len(f.Strategies))
		for i, name := range f.Strategies {
			rs[i] = newFleetResult(name, loadOf(i, seconds))
		}
		parts[w] = rs
		wg.Go(func() {
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= f.Devices {
					return
				}
				for d := lo; d < min(lo+chunk, f.Devices); d++ {
					base := newDevice(&f, uint64(d))
					for i, name := range f.Strategies {
						simDevice(base, name, rs[i])
					}
				}
			}
		})
	}
	wg.Wait()
	out := make([]*FleetResult, len(f.Strategies))
	for i, name := range f.Strategies {
		out[i] = newFleetResult(name, loadOf(i, seconds))
		for _, p := range parts {
			out[i].merge(p[i])
		}
		out[i].finish()
	}
	return out, nil
}

// network is one network of a fleet device.
type fleetNet struct {
	id       string
	kind     Kind
	timeout  time.Duration // before changeAt
	after    time.Duration // from changeAt on
	changeAt time.Duration // never: no change
	reset    bool          // the middlebox resets instead of dropping silently
	radio    *Radio
	usedDays [MaxDays/64 + 1]uint64 // bit d: used on day d (d >= 1)
}

func (n *fleetNet) timeoutAt(t time.Duration) time.Duration {
	if t >= n.changeAt {
		return n.after
	}
	return n.timeout
}

// device is one fleet device's world and state for one strategy.
type device struct {
	f        *Fleet
	end      time.Duration
	nets     [3]fleetNet
	commuter bool
	jitter   []time.Duration // two per day
	key      uint64          // seeds mailRng and fuzzRng
	mailRng  *rand.Rand
	fuzzRng  *rand.Rand
	mailGap  time.Duration

	st      Strategy
	now     time.Duration
	cur     int // index into nets
	segEnd  time.Duration
	pending []time.Duration
	radio   radioMeter
	res     *FleetResult
	deviceU float64 // this device's mAh

	// the ping in flight
	flying   bool
	sent, iv time.Duration
	dies     time.Duration // never: survives
	endAt    time.Duration // when the answer, reset or deadline comes
	blocked  time.Duration // waiting out a 503 until then; 0: not
	lastRST  time.Duration // idle time of the last reset at this interval; 0: none
	lastIv   time.Duration
	nextMail time.Duration
}

// streams of the PCG generator per device and purpose.
const (
	streamEnv  = 0x5eed0001
	streamMail = 0x5eed0002
	streamFuzz = 0x5eed0003
)

// newDevice draws device d's world: the same for every strategy.
func newDevice(f *Fleet, d uint64) *device {
	key := f.Seed ^ (d+1)*0x9e3779b97f4a7c15
	env := rand.New(rand.NewPCG(key, streamEnv))
	dv := &device{f: f, end: time.Duration(f.Days) * Day, key: key}
	if f.stop > 0 {
		dv.end = min(dv.end, f.stop)
	}
	dv.commuter = env.Float64() < commuterShare
	cell := &RadioLTE
	if env.Float64() >= lteShare {
		cell = &Radio3G
	}
	for i, k := range []Kind{Home, Cellular, Office} {
		n := &dv.nets[i]
		n.kind = k
		n.timeout = draw(env, mixOf(k))
		n.after, n.changeAt = n.timeout, never
		if env.Float64() < driftShare {
			n.after = draw(env, mixOf(k))
			n.changeAt = time.Duration(env.Int64N(int64(dv.end)))
		}
		n.reset = env.Float64() < resetShare
		n.radio = &RadioWiFi
		n.id = fmt.Sprintf("wifi:%s", k)
		if k == Cellular {
			n.radio = cell
			n.id = "cell:" + cell.Name
		}
	}
	dv.mailGap = mailGaps[env.IntN(len(mailGaps))]
	dv.jitter = make([]time.Duration, 2*f.Days)
	for i := range dv.jitter {
		dv.jitter[i] = time.Duration(env.Int64N(int64(time.Hour))) - 30*time.Minute
	}
	return dv
}

// fresh returns a copy of the device's world with its random streams at
// their start, for one strategy's run.
func (dv *device) fresh() *device {
	c := *dv
	c.mailRng = rand.New(rand.NewPCG(dv.key, streamMail))
	c.fuzzRng = rand.New(rand.NewPCG(dv.key, streamFuzz))
	c.pending = nil
	return &c
}

// plan returns the network index in use at t and when that segment ends.
// Weekdays (days 0-4 of each week): commuters are home until about 8:00,
// on cellular until 9:00, in the office until 17:00, on cellular until
// 18:00, then home; the others are home until about 7:00, on cellular
// until 21:00, then home. Weekends: home, cellular from about 11:00 to
// 15:00, home.
func (dv *device) plan(t time.Duration) (int, time.Duration) {
	day := int(t / Day)
	base := time.Duration(day) * Day
	j1, j2 := dv.jitter[2*day], dv.jitter[2*day+1]
	h := time.Hour
	var bounds []time.Duration
	var nets []int
	switch {
	case day%7 >= 5:
		bounds = []time.Duration{11*h + j1, 15*h + j2}
		nets = []int{0, 1, 0}
	case dv.commuter:
		bounds = []time.Duration{8*h + j1, 9*h + j1, 17*h + j2, 18*h + j2}
		nets = []int{0, 1, 2, 1, 0}
	default:
		bounds = []time.Duration{7*h + j1, 21*h + j2}
		nets = []int{0, 1, 0}
	}
	for i, b := range bounds {
		if t < base+b {
			return nets[i], base + b
		}
	}
	return nets[len(nets)-1], base + Day
}

// simDevice runs a copy of device base with the named strategy and adds
// it to res.
func simDevice(base *device, name string, res *FleetResult) {
	dv := base.fresh()
	f := dv.f
	st, _ := newFleetStrategy(name, dv) // the name was checked by Run
	dv.st, dv.res = st, res
	dv.radio.last = -1
	dv.run()
	res.Devices++
	res.DeviceDays += float64(f.Days)
	res.uMAh += int64(dv.deviceU*1e6 + 0.5)
	perDay := dv.deviceU / float64(f.Days)
	res.energy[min(int(perDay/energyStep), energyBins)]++
	for i := range dv.nets {
		for _, w := range dv.nets[i].usedDays {
			res.steadyNetDays += int64(bits.OnesCount64(w))
		}
	}
}

// run is the device's event loop.
func (dv *device) run() {
	dv.nextMail = dv.mailAfter(0)
	dv.cur, dv.segEnd = dv.plan(0)
	dv.use(0)
	dv.switchTo(dv.cur)
	dv.send(0)
	outStart, outEnd := never, never
	if dv.f.Outage > 0 {
		outStart, outEnd = dv.f.OutageAt, dv.f.OutageAt+dv.f.Outage
	}
	for {
		// The next event: mail, the ping's end, a network switch, the
		// outage's start, the end of a 503 wait.
		t, ev := dv.nextMail, 0
		if dv.flying && dv.endAt < t {
			t, ev = dv.endAt, 1
		}
		if dv.segEnd < t || (dv.segEnd == t && ev != 0) {
			t, ev = dv.segEnd, 2
		}
		if outStart < t {
			t, ev = outStart, 3
		}
		if dv.blocked > 0 && dv.blocked < t {
			t, ev = dv.blocked, 4
		}
		if t >= dv.end {
			break
		}
		dv.now = t
		switch ev {
		case 0:
			dv.mail()
		case 1:
			dv.pingEnds()
		case 2:
			dv.switchNetwork()
		case 3:
			outStart = never
			dv.outage(outEnd)
		case 4:
			dv.blocked = 0
			dv.request(true)
		}
	}
	dv.deviceU = dv.radio.mAh
	dv.res.Wakeups += int64(dv.radio.wakeups)
}

func (dv *device) mailAfter(t time.Duration) time.Duration {
	return t + time.Duration(dv.mailRng.ExpFloat64()*float64(dv.mailGap)) + 1
}

// use marks the current network as used on the day of t.
func (dv *device) use(t time.Duration) {
	n := &dv.nets[dv.cur]
	if day := int(t / Day); day >= 1 {
		n.usedDays[day/64] |= 1 << (day % 64)
	}
}

// count records a request at the current time.
func (dv *device) count() {
	dv.res.Requests++
	if dv.res.Load != nil {
		dv.res.Load[dv.now/time.Second]++
	}
	dv.radio.activity(dv.now, dv.nets[dv.cur].radio)
}

// serverDown reports whether the server is in its outage now; if so it
// starts the device's 503 wait (SPEC B1).
func (dv *device) serverDown() bool {
	f := dv.f
	if f.Outage <= 0 || dv.now < f.OutageAt || dv.now >= f.OutageAt+f.Outage {
		return false
	}
	dv.wait(f.OutageAt + f.Outage - dv.now)
	return true
}

// wait starts a 503 wait of retryAfter plus 0-25% fuzz.
func (dv *device) wait(retryAfter time.Duration) {
	dv.flying = false
	dv.blocked = dv.now + retryAfter + time.Duration(dv.fuzzRng.Float64()*0.25*float64(retryAfter)) + 1
}

// request syncs if needed (or asked) and pings: the start of every cycle.
func (dv *device) request(sync bool) {
	if dv.blocked > 0 {
		return
	}
	if sync || len(dv.pending) > 0 {
		dv.count()
		if dv.serverDown() {
			return
		}
		dv.deliver()
	}
	dv.send(dv.now)
}

// deliver delivers all pending mail now.
func (dv *device) deliver() {
	for _, at := range dv.pending {
		d := dv.now - at
		dv.res.Mails++
		dv.res.delays[min(int(d/time.Second), delayBins)]++
		dv.res.DelayMax = max(dv.res.DelayMax, d)
	}
	dv.pending = dv.pending[:0]
}

// send sends a ping at the strategy's interval.
func (dv *device) send(t time.Duration) {
	dv.count()
	if dv.serverDown() {
		return
	}
	n := &dv.nets[dv.cur]
	setNow(dv.st, t)
	dv.flying, dv.sent, dv.iv = true, t, dv.st.Interval()
	dv.dies = never
	dv.endAt = t + dv.iv
	if to := n.timeoutAt(t); to > 0 && dv.iv > to {
		dv.dies = t + to
		if n.reset {
			dv.endAt = dv.dies
		} else {
			dv.endAt = t + dv.iv + fleetBuffer
		}
	}
}

// mail handles an arrival: a live ping is answered at once with changes.
func (dv *device) mail() {
	dv.pending = append(dv.pending, dv.now)
	dv.nextMail = dv.mailAfter(dv.now)
	if dv.flying && dv.now < dv.dies {
		dv.flying = false
		dv.st.Observe(heartbeat.Changed)
		dv.radio.activity(dv.now, dv.nets[dv.cur].radio)
		dv.request(true)
	}
}

// death records a connection the idle timeout killed.
func (dv *device) death() {
	dv.res.Deaths++
	if dv.dies >= Day {
		dv.res.SteadyDeaths++
	}
}

// pingEnds handles the answer, reset or deadline of the ping in flight.
func (dv *device) pingEnds() {
	dv.flying = false
	setNow(dv.st, dv.now)
	switch {
	case dv.dies == never: // the answer: no changes
		dv.st.Observe(heartbeat.Expired)
		dv.lastRST = 0
		dv.request(false)
	case dv.nets[dv.cur].reset: // reset at dies == now
		dv.death()
		dv.radio.activity(dv.now, dv.nets[dv.cur].radio)
		// The transport loop's rule (SPEC T3): one reset proves nothing; a
		// second at the same interval after about the same idle time is an
		// idle timeout.
		idle := dv.now - dv.sent
		if dv.lastRST > 0 && dv.lastIv == dv.iv && similar(dv.lastRST, idle) {
			dv.st.Observe(heartbeat.TimedOut)
			dv.lastRST = 0
		} else {
			dv.st.Observe(heartbeat.KnownCause)
			dv.lastRST, dv.lastIv = idle, dv.iv
		}
		dv.request(false)
	default: // the deadline of a silently dropped connection
		dv.death()
		dv.res.deafMs += int64((dv.now - dv.dies) / time.Millisecond)
		dv.st.Observe(heartbeat.TimedOut)
		dv.request(true)
	}
}

// similar reports whether two idle times are within 20% of each other.
func similar(a, b time.Duration) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d*5 <= max(a, b)
}

// switchNetwork moves the device to the next network of its plan: the ping
// in flight is abandoned (if its connection had died silently, the device
// was deaf until now), and a new one starts on the new network.
func (dv *device) switchNetwork() {
	next, end := dv.plan(dv.now)
	dv.segEnd = end
	if next == dv.cur {
		dv.use(dv.now)
		return
	}
	if dv.flying && dv.now >= dv.dies {
		dv.death()
		dv.res.deafMs += int64((dv.now - dv.dies) / time.Millisecond)
	}
	dv.flying = false
	dv.cur = next
	dv.use(dv.now)
	dv.switchTo(next)
	dv.lastRST = 0
	dv.request(false)
}

func (dv *device) switchTo(i int) {
	if s, ok := dv.st.(interface{ SwitchNetwork(string) }); ok {
		s.SwitchNetwork(dv.nets[i].id)
	}
}

// outage starts the server's outage: a live held ping is answered 503.
func (dv *device) outage(end time.Duration) {
	if dv.flying && dv.now < dv.dies {
		dv.radio.activity(dv.now, dv.nets[dv.cur].radio)
		dv.wait(end - dv.now)
	}
}

func setNow(st Strategy, t time.Duration) {
	if s, ok := st.(interface{ setNow(time.Duration) }); ok {
		s.setNow(t)
	}
}
