package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Each stored device starts with a codec byte, so the encoding can change
// without a format migration of the whole file.
const codecJSON = 1

// encodeDevice encodes d without its metadata (stored on its own).
func encodeDevice(d *facts.Device) ([]byte, error) {
	c := *d
	c.Metadata = nil
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	return append([]byte{codecJSON}, b...), nil
}

func decodeDevice(b []byte, d *facts.Device) error {
	if len(b) == 0 {
		return errors.New("empty value")
	}
	switch b[0] {
	case codecJSON:
		return json.Unmarshal(b[1:], d)
	}
	return fmt.Errorf("unknown codec %d", b[0])
}
