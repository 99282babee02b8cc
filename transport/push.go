package transport

// pushState is push availability, a small pure state machine (SPEC H8, H9,
// L1). Push is available unless the tuner reports it unworkable (timeouts
// at the floor, H9) or the server's heartbeat range excludes the device's
// (H8); nothing else, and no failure that ends at once (L1), makes it
// unavailable. update reports each change once, for the loop to announce.
type pushState struct {
	// bounds is the error of a server range that excludes the device's
	// (wrapping heartbeat.ErrPushUnavailable), nil while the server's
	// range fits.
	bounds error
	// unavailable: PushUnavailable was announced, PushAvailable not yet.
	unavailable bool
}

// available reports whether push works, with workable the tuner's verdict.
func (p *pushState) available(workable bool) bool {
	return workable && p.bounds == nil
}

// update takes the tuner's verdict and returns the event a change calls
// for: PushUnavailable with its cause (the bounds error, or
// ErrPushUnworkable), PushAvailable, or the zero kind when nothing changed.
func (p *pushState) update(workable bool) (EventKind, error) {
	available := p.available(workable)
	switch {
	case !available && !p.unavailable:
		p.unavailable = true
		if p.bounds != nil {
			return PushUnavailable, p.bounds
		}
		return PushUnavailable, ErrPushUnworkable
	case available && p.unavailable:
		p.unavailable = false
		return PushAvailable, nil
	}
	return 0, nil
}
