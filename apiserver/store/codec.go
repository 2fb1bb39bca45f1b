package store

import (
	"errors"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Devices are stored as CBOR (RFC 8949) through fxamacker/cbor, with the
// field names of the JSON tags: a third smaller than JSON and about three
// times faster to decode, which is most of restart time. Metadata, whose
// values are arbitrary JSON, is stored as JSON on its own.
//
// Each stored device starts with a codec byte, so that the encoding can
// change later without rewriting the whole file at once.
const codecCBOR = 1

// codec holds the CBOR modes (immutable, safe for concurrent use).
type codec struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

func newCodec() (codec, error) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return codec{}, fmt.Errorf("cbor encoder: %w", err)
	}
	dec, err := cbor.DecOptions{
		// A core switch or a spine may list thousands of interfaces or
		// peers; the library's defaults guard against hostile input, but
		// this file is our own.
		MaxArrayElements: math.MaxInt32,
		MaxMapPairs:      math.MaxInt32,
	}.DecMode()
	if err != nil {
		return codec{}, fmt.Errorf("cbor decoder: %w", err)
	}
	return codec{enc: enc, dec: dec}, nil
}

// encodeDevice encodes d without its metadata (stored on its own).
func (c codec) encodeDevice(d *facts.Device) ([]byte, error) {
	cp := *d
	cp.Metadata = nil
	b, err := c.enc.Marshal(&cp)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+len(b))
	out[0] = codecCBOR
	copy(out[1:], b)
	return out, nil
}

func (c codec) decodeDevice(b []byte, d *facts.Device) error {
	if len(b) == 0 {
		return errors.New("empty value")
	}
	switch b[0] {
	case codecCBOR:
		return c.dec.Unmarshal(b[1:], d)
	}
	return fmt.Errorf("unknown codec %d", b[0])
}
