package parse

import "errors"

func asaConfig(b *builder, data []byte) error { return errors.New("not yet") }
