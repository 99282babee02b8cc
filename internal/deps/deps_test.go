package deps
import (
	_ "github.com/benbjohnson/clock"
	_ "github.com/stretchr/testify/require"
	_ "pgregory.net/rapid"
	_ "go.uber.org/goleak"
)
