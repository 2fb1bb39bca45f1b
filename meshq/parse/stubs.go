package parse

import "github.com/meshoptixiq/mesh/meshq/platform"

var asaParsers = map[platform.Kind]parseFunc{}
var arubaParsers = map[platform.Kind]parseFunc{}
var panosParsers = map[platform.Kind]parseFunc{}
var fortinetParsers = map[platform.Kind]parseFunc{}
var gaiaParsers = map[platform.Kind]parseFunc{}
