package sim

import "time"

// Radio is a radio's cost model (SPEC S1): what one wake-up of the radio
// from idle costs (promotion to the connected state, the transfer, and the
// tail the radio spends connected before it demotes again), and how long
// the tail lasts. Activity within the tail of the previous activity wakes
// nothing: it keeps the radio connected for longer, at the tail's rate.
// Costs are in mAh drawn from the battery above the idle current, which
// every strategy pays alike.
type Radio struct {
	// Name is "lte", "3g" or "wifi".
	Name string
	// Wake is the charge of one wake-up from idle, promotion and full tail
	// included, in mAh.
	Wake float64
	// Tail is how long the radio stays connected after the last activity.
	Tail time.Duration
}

// batteryVolts converts the published power figures to charge: 3.7 V, the
// nominal voltage of a lithium-ion phone battery (an assumption; the
// papers report power or current, not both).
const batteryVolts = 3.7

// mAhOfJoules converts energy at batteryVolts to charge.
func mAhOfJoules(j float64) float64 { return j / batteryVolts / 3.6 }

// The radios of the fleet (SPEC S1).
var (
	// RadioLTE: Huang et al., "A Close Examination of Performance and
	// Power Characteristics of 4G LTE Networks", MobiSys 2012, Table 3:
	// promotion 260.1 ms at 1210.7 mW, then a tail of 11.576 s at
	// 1060.0 mW before the radio demotes to RRC_IDLE. One wake-up costs
	// 0.315 J + 12.27 J = 12.59 J, 0.945 mAh at 3.7 V.
	RadioLTE = Radio{Name: "lte",
		Wake: mAhOfJoules(0.2601*1.2107 + 11.576*1.0600),
		Tail: 11576 * time.Millisecond}
	// Radio3G: Haverinen, Sirén and Eronen, "Energy Consumption of
	// Always-On Applications in WCDMA Networks", VTC 2007-Spring, Table 2:
	// the average current of a phone on 3G sending a keepalive every 20,
	// 40, 150 and 300 s is 34, 24, 16 and 14 mA, against 6.1 mA with none
	// (2G: 29, 16, 9.1, 7.3 and 5.2 mA). A keepalive every 300 s thus costs
	// (14 - 6.1) mA x 300 s = 2370 mAs = 0.658 mAh; the shorter periods
	// cost less per keepalive because their tails overlap. The tail
	// (DCH then FACH) is the paper's network's: about 8 s is taken here,
	// which only decides when two activities count as one wake-up.
	Radio3G = Radio{Name: "3g", Wake: (14 - 6.1) * 300 / 3600, Tail: 8 * time.Second}
	// RadioWiFi: Huang et al. (MobiSys 2012, Table 3) for Wi-Fi:
	// promotion 79.1 ms at 124.4 mW, tail 238.1 ms at 119.3 mW: 0.038 J,
	// 0.0029 mAh a wake-up, some 330 times less than LTE.
	RadioWiFi = Radio{Name: "wifi",
		Wake: mAhOfJoules(0.0791*0.1244 + 0.2381*0.1193),
		Tail: 238100 * time.Microsecond}
)

// radioMeter accumulates one device's radio cost.
type radioMeter struct {
	last    time.Duration // the last activity; negative: none yet
	radio   *Radio        // the radio of the last activity
	wakeups int
	mAh     float64
}

// activity records radio activity at t on radio r: a wake-up if the radio
// was idle, else an extension of the tail.
func (m *radioMeter) activity(t time.Duration, r *Radio) {
	if m.radio == r && m.last >= 0 && t-m.last < r.Tail {
		m.mAh += r.Wake * float64(t-m.last) / float64(r.Tail)
	} else {
		m.wakeups++
		m.mAh += r.Wake
	}
	m.last, m.radio = t, r
}
