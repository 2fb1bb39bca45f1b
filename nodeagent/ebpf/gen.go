package ebpf

// The generated tcp_bpfel.go and tcp_bpfel.o are committed. Regenerating them
// must give the same bytes: the compiler and strip tool are pinned, bpf2go
// maps the source directory to a relative path, and -strip removes DWARF.
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -target bpfel -type event -type remote_key -type remote_stats -type counters -type rtt_hist -cflags "-O2 -g -Wall -Werror" tcp ../../bpf/tcp.bpf.c -- -I../../bpf
