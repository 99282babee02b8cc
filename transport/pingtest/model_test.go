package pingtest

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"
)

// TestMailboxMatchesModel checks the mailbox against a simple model over
// random sequences of posts, held pings and clients going away (SPEC T6):
// every change is delivered exactly once, to the oldest held ping that
// asked for it, sorted; a ping that ends early consumes nothing.
func TestMailboxMatchesModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Wrapped so that rapid does not ask a bubbled *testing.T for its
		// deadline (which panics).
		rapid.Check(struct{ rapid.TB }{t}, func(rt *rapid.T) {
			b := newBackend(Config{LogSize: -1})
			defer func() { b.close(); synctest.Wait() }()

			type held struct {
				folders []string // nil: all
				cancel  context.CancelFunc
				ch      <-chan []delivery
			}
			var (
				pending   = map[string]bool{}
				queue     []*held
				delivered int
			)
			folderGen := rapid.SampledFrom([]string{"a", "b", "c", "d"})
			wants := func(h *held, f string) bool { return h.folders == nil || slices.Contains(h.folders, f) }
			// dispatch applies the model's rule after pending changes.
			dispatch := func() map[*held][]string {
				got := map[*held][]string{}
				for i := 0; i < len(queue); {
					h := queue[i]
					var d []string
					for f := range pending {
						if wants(h, f) {
							d = append(d, f)
						}
					}
					if d == nil {
						i++
						continue
					}
					slices.Sort(d)
					for _, f := range d {
						delete(pending, f)
					}
					got[h] = d
					queue = slices.Delete(queue, i, i+1)
				}
				return got
			}
			check := func(step string, want map[*held][]string, all []*held) {
				synctest.Wait()
				for _, h := range all {
					select {
					case d := <-h.ch:
						names := make([]string, len(d))
						for i, c := range d {
							names[i] = c.folder
						}
						if exp, ok := want[h]; !ok || !slices.Equal(exp, names) {
							rt.Fatalf("%s: a ping got %v, model says %v (ok=%v)", step, names, exp, ok)
						}
						delivered += len(names)
					default:
						if _, ok := want[h]; ok {
							rt.Fatalf("%s: a ping got nothing, model says %v", step, want[h])
						}
					}
				}
				st := b.snapshot()
				if st.Pending != len(pending) || st.Held != len(queue) || st.Deliveries != delivered {
					rt.Fatalf("%s: pending %d held %d delivered %d, model %d %d %d",
						step, st.Pending, st.Held, st.Deliveries, len(pending), len(queue), delivered)
				}
			}

			rt.Repeat(map[string]func(*rapid.T){
				"post": func(rt *rapid.T) {
					fs := rapid.SliceOfN(folderGen, 1, 3).Draw(rt, "post")
					for _, f := range fs {
						pending[f] = true
					}
					all := slices.Clone(queue)
					b.postChange(fs)
					check("post", dispatch(), all)
				},
				"ping": func(rt *rapid.T) {
					var fs []string
					if !rapid.Bool().Draw(rt, "all") {
						fs = rapid.SliceOfNDistinct(folderGen, 1, 3, rapid.ID).Draw(rt, "folders")
					}
					ctx, cancel := context.WithCancel(context.Background())
					ch := make(chan []delivery, 1)
					h := &held{folders: fs, cancel: cancel, ch: ch}
					go func() {
						d, ok := b.hold(ctx, ping{Heartbeat: 1000 * time.Hour, Folders: fs})
						if ok {
							ch <- d
						}
					}()
					queue = append(queue, h)
					check("ping", dispatch(), []*held{h})
				},
				"leave": func(rt *rapid.T) {
					if len(queue) == 0 {
						rt.Skip("nobody held")
					}
					i := rapid.IntRange(0, len(queue)-1).Draw(rt, "who")
					h := queue[i]
					queue = slices.Delete(queue, i, i+1)
					h.cancel()
					check("leave", nil, []*held{h})
				},
			})
			for _, h := range queue {
				h.cancel()
			}
		})
	})
}
