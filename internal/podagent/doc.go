// Package podagent plays kube-scheduler and the kubelet for tests on a machine where no kubelet
// can run (no container runtime, no network beyond loopback). Started against a testenv control
// plane with kube-controller-manager, it registers one Node and turns the Pods of the watched
// namespaces into real processes, so StatefulSets, Jobs, Services and EndpointSlices behave as in
// a cluster. It is test-only infrastructure: nothing under fn/ may import it. It needs root.
//
// What it does as the real components do:
//
//   - Node: a Ready Node with the usual kubernetes.io/{hostname,os,arch} labels and a Lease in
//     kube-node-lease renewed every 10 s, so the node lifecycle controller keeps it Ready.
//   - Scheduling: every pending Pod (default scheduler) whose nodeSelector matches and whose
//     PersistentVolumeClaims are bound gets a Binding to the Node, plus a "Scheduled" event.
//   - Storage: every pending claim of a watched namespace, whatever its class, gets a local
//     PersistentVolume pre-bound to it, backed by its own directory under Root/pvc; the
//     controller manager's PV controller binds the pair. The directory is keyed by the claim's UID,
//     survives Pod deletion and recreation, and is removed (with the PV) only when the claim is
//     deleted. PVCDir tells where it is.
//   - Pod sandbox: each Pod incarnation (UID) gets its own loopback address 127.a.b.n from the
//     agent's block (a new one for a recreated pod; addresses are reused least recently freed
//     first), a kubelet-style /etc/hosts (localhost, the pod's hostname and, with a subdomain, its
//     FQDN, hostAliases), a resolv.conf for its dnsPolicy (ClusterFirst: the agent's DNS server,
//     search <ns>.svc.<domain> svc.<domain> <domain>, ndots:5), and its hostname in a UTS namespace.
//   - Containers: init containers in order, each to success (restarted on failure unless the
//     restartPolicy is Never), then all containers. restartPolicy Always restarts any exit,
//     OnFailure non-zero exits, Never none; the first restart is immediate and the next ones back
//     off (CrashLoopBackOff) from Options.RestartBackoff (1 s) doubling to MaxRestartBackoff (10 s);
//     the kubelet's are 10 s and 5 min. A pod whose containers all finished for good turns
//     Succeeded (all exit 0) or Failed, so the Job controller completes or retries its Job.
//   - Environment: exactly the kubelet's construction: envFrom, then env in order (value with
//     $(VAR) expansion over the variables before it; valueFrom fieldRef metadata.name,
//     .namespace, .uid, .labels['k'], .annotations['k'], spec.nodeName, spec.serviceAccountName,
//     status.hostIP(s), status.podIP(s); resourceFieldRef with divisor, unset limits falling back to
//     node allocatable; configMapKeyRef and secretKeyRef with optional honoured, a missing
//     non-optional one being CreateContainerConfigError, retried), then $(VAR) expansion of
//     command and args ($$ escapes, undefined references stay literal), plus
//     KUBERNETES_SERVICE_HOST/PORT (and the KUBERNETES_PORT_* family), PATH, HOSTNAME and HOME.
//   - Volumes, bind-mounted in a private mount namespace per process, parents first: emptyDir (a
//     fresh world-writable directory per incarnation), persistentVolumeClaim, hostPath,
//     configMap, secret, downwardAPI and projected (configMap, secret, downwardAPI and
//     serviceAccountToken sources) with items, modes and optional, written with the kubelet's
//     atomic-writer layout (..data symlink swap) and refreshed every VolumeSyncPeriod (2 s), so a
//     changed ConfigMap reaches running pods. fsGroup is applied like the kubelet does for volumes
//     that support ownership management (group ownership, group rw, setgid directories,
//     OnRootMismatch honoured). The service-account token of a pod with automountServiceAccountToken
//     comes from the kube-api-access-* projected volume the ServiceAccount admission plugin injects:
//     a token from the TokenRequest API bound to the pod (renewed at 80 % of its life), the
//     kube-root-ca.crt ConfigMap (the control plane's CA) and the namespace, mounted at
//     /var/run/secrets/kubernetes.io/serviceaccount, so the API server enforces the rendered RBAC
//     on the pod exactly as in a cluster. subPath and subPathExpr work.
//   - Identity: processes run as the pod's runAsUser/runAsGroup with fsGroup and
//     supplementalGroups as supplementary groups; runAsNonRoot with uid 0 refuses to start;
//     allowPrivilegeEscalation: false sets no_new_privs; capabilities drop ALL (plus add) clears
//     the bounding set.
//   - Probes: startup, readiness and liveness with httpGet (pod IP and named or numbered port,
//     headers, status 200-399, same-host redirects), tcpSocket and exec; initialDelaySeconds,
//     periodSeconds, timeoutSeconds, successThreshold and failureThreshold are honoured; the startup
//     probe gates the other two; startup and liveness failures kill the container (with the
//     probe's or the pod's grace period) and the restart policy applies.
//   - Status: pod IP(s), host IP(s), start time, phase, the PodReadyToStartContainers,
//     Initialized, ContainersReady and Ready conditions (readiness gates included), and per
//     container state, last state, ready, started, restartCount, with FallbackToLogsOnError
//     messages, written with UpdateStatus; the EndpointSlice controller takes it from there.
//   - Hooks and deletion: postStart and preStop hooks (sleep, exec, httpGet). A Pod with a
//     deletionTimestamp gets the kubelet's treatment: preStop, SIGTERM, SIGKILL when its deletion
//     grace period (less the hook's time, at least 2 s) is over, a final status, then deletion
//     with grace period 0. A Pod removed from the API behind its back is killed at once.
//   - Logs: every container's output, all restarts appended with a "### podagent" line between
//     runs, stays readable through Logs after the pod is gone; the agent's own log and the tails
//     of every container's log are printed when the test fails.
//
// What it fakes, deliberately:
//
//   - Network: pods share the machine's network namespace; each has a loopback address instead
//     of a network of its own. Per-pod network namespaces would need routes and sysctls on the
//     host, which is shared, so a bind address 0.0.0.0 in an argument ("0.0.0.0:PORT", alone or
//     after "=", as rqlited's -http-addr and -raft-addr) is rewritten to the pod's address: the one
//     deliberate difference in what a container runs. A program that binds the wildcard address
//     by default would take the port for every pod. NetworkPolicy is not enforced.
//   - Published addresses: the API server refuses loopback addresses in Endpoints and
//     EndpointSlices, so a pod's status carries 10.a.b.n for its real 127.a.b.n (PublishedIP).
//     Nothing listens on 10.a.b.n. The downward API's status.podIP and the pod's hosts file give
//     the real address, and DNS maps endpoint addresses back.
//   - DNS: a server of the agent's own on 127.a.b.254:53 (UDP and TCP) answers like CoreDNS from
//     Services and EndpointSlices (see clusterDNS): a headless Service resolves to its ready
//     endpoints, not-ready pods included when publishNotReadyAddresses is set, and
//     <hostname>.<service>.<ns>.svc.<domain> to the endpoint of that hostname. With no kube-proxy,
//     a ClusterIP Service resolves to its ready endpoints' pod addresses instead of its ClusterIP,
//     so clients reach a pod directly on the Service's port (fine while port and targetPort agree).
//     Only A and CNAME records exist; names outside the cluster domain are NXDOMAIN. Both Go's and
//     glibc's resolvers use it through the bind-mounted resolv.conf. KUBERNETES_SERVICE_HOST/PORT
//     point at the API server's loopback address rather than the "kubernetes" ClusterIP.
//   - Images: there are none. Options.Binaries maps a container's command[0] (e.g. /bin/rqlited
//     to the pinned rqlited, /bin/sh to the host's) or, for a container without a command, an image
//     pattern (ghcr.io/rqlite/rqlite-krm:* to a freshly built rqlite-fn, the image's entrypoint) to
//     a local executable; anything else is CreateContainerError. Processes see the host's root
//     filesystem apart from their mounts, so readOnlyRootFilesystem cannot be enforced, and neither
//     can seccomp profiles, resource requests or limits (sizeLimit included), or an image's USER
//     (an unset runAsUser means root). Mount points missing on the host are created there (never
//     under /etc), e.g. /rqlite/file.
//   - Scheduling: one Node; affinity, anti-affinity, topology spread, taints and resources are
//     not evaluated. Restartable init containers (sidecars), ephemeral containers, gRPC probes,
//     Docker-link service variables (enableServiceLinks), SRV/PTR records and image pulls are not
//     supported.
//   - Timing: restart back-off is shorter than the kubelet's (see above), and volumes refresh
//     faster.
//
// And one fault it can inject on request: SlowLink throttles the traffic peers send to one pod's
// port when they dial it by its hostname record (the pod's DNS name answers a relay's address),
// so a test can hold a node behind the cluster, as a congested link would.
//
// Every process is started in its own process group from one locked OS thread with a parent-death
// signal, so processes die with the test binary even when it is killed; at cleanup the agent kills
// every process group by pid, force-deletes its pods and deletes its PersistentVolumes, Lease and
// Node, then removes Root (kept with RQLITE_KRM_TESTENV_KEEP=1).
package podagent
