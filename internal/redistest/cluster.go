package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cli is Debian's redis-cli, which creates the cluster.
const Cli = "/usr/bin/redis-cli"

// Cluster is a Redis Cluster of masters without replicas or persistence,
// on free loopback ports.
type Cluster struct {
	Addrs   []string // the masters, each serving an even share of the slots
	Servers []*Server
}

// StartCluster runs n redis-server processes in cluster mode, joins them
// with `redis-cli --cluster create` (n masters, no replicas), waits until
// every node reports cluster_state:ok and all 16384 slots, and stops them
// at the end of the test. It skips or fails without redis-server or
// redis-cli as Start does.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	need(t, Bin)
	need(t, Cli)
	c := &Cluster{}
	for range n {
		port, bus := freePort(t), freePort(t)
		s := startServer(t, port,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "5000")
		c.Servers = append(c.Servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	out, err := exec.Command(Cli, append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range c.Addrs {
		for !clusterOK(addr) {
			if time.Now().After(deadline) {
				t.Fatalf("the cluster is not ok on %s within 20 s:\n%s", addr, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// clusterOK reports whether the node at addr says, in CLUSTER INFO, that
// the cluster is ok with every slot assigned and served.
func clusterOK(addr string) bool {
	info, err := command(addr, "CLUSTER INFO")
	return err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384")
}

// command sends one inline command to addr and returns its reply, a
// status or a bulk string.
func command(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("redistest: reply %q to %s", line, cmd)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	}
	return "", fmt.Errorf("redistest: reply %q to %s", line, cmd)
}
