package statefile_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pushbeat/pushbeat/heartbeat"
	"github.com/pushbeat/pushbeat/heartbeat/statefile"
)

// Learned intervals survive a restart.
func Example() {
	dir, _ := os.MkdirTemp("", "pushbeat")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "heartbeat.json")

	tuner, _ := heartbeat.New(heartbeat.Config{})
	for i := 0; i < 4; i++ {
		tuner.Observe(heartbeat.Expired)
	}
	if err := statefile.Save(path, tuner); err != nil {
		fmt.Println(err)
	}

	restarted, _ := heartbeat.New(heartbeat.Config{})
	if _, err := statefile.Load(path, restarted); err != nil {
		fmt.Println(err)
	}
	fmt.Println(restarted.Interval()) // 8, 8, 13, 13, then 28 (Adaptive's first search)
	// Output: 28m0s
}
