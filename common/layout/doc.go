// Package layout holds repository-wide checks that keep the architecture
// honest: every package documents itself, and only the node agent links the
// kernel and GPU libraries.
package layout
