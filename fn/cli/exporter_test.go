package cli_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExporterCommandFlags(t *testing.T) {
	code, _, _ := run(t, "", "exporter", "-h")
	assert.Equal(t, 0, code)
	code, _, stderr := run(t, "", "exporter", "--ca-file", filepath.Join(t.TempDir(), "missing.pem"))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "missing.pem")
	code, _, stderr = run(t, "", "exporter", "--listen", "256.0.0.1:1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "exporter:")
	code, _, _ = run(t, "", "exporter", "--no-such-flag")
	assert.Equal(t, 2, code)
}
