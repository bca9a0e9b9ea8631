package podagent

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// object is what the caches hold.
type object interface {
	runtime.Object
	metav1.Object
}

// handlers are called from the cache's goroutine, in event order.
type handlers[T object] struct {
	add    func(T)
	update func(old, cur T)
	del    func(T)
}

// watchCache is a list+watch mirror of one resource, the kubelet's and scheduler's way of
// reading the API (client-go's informers would pull in a dependency the module does not carry).
// After a watch ends for any reason it lists again and reports the difference as events.
type watchCache[T object] struct {
	name   string
	list   func(context.Context, metav1.ListOptions) ([]T, string, error)
	watch  func(context.Context, metav1.ListOptions) (watch.Interface, error)
	h      handlers[T]
	logf   func(string, ...any)
	mu     sync.RWMutex
	items  map[types.NamespacedName]T
	synced chan struct{}
}

func newWatchCache[T object](name string, list func(context.Context, metav1.ListOptions) ([]T, string, error),
	w func(context.Context, metav1.ListOptions) (watch.Interface, error), h handlers[T], logf func(string, ...any)) *watchCache[T] {
	return &watchCache[T]{name: name, list: list, watch: w, h: h, logf: logf,
		items: map[types.NamespacedName]T{}, synced: make(chan struct{})}
}

func keyOf(o metav1.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

func (c *watchCache[T]) get(ns, name string) (T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.items[types.NamespacedName{Namespace: ns, Name: name}]
	return o, ok
}

func (c *watchCache[T]) listAll(keep func(T) bool) []T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []T
	for _, o := range c.items {
		if keep == nil || keep(o) {
			out = append(out, o)
		}
	}
	return out
}

func (c *watchCache[T]) run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		items, rv, err := c.list(ctx, metav1.ListOptions{})
		if err != nil {
			if ctx.Err() == nil {
				c.logf("list %s: %v", c.name, err)
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		c.replace(items)
		if first {
			close(c.synced)
			first = false
		}
		c.watchFrom(ctx, rv)
	}
}

func (c *watchCache[T]) replace(items []T) {
	fresh := make(map[types.NamespacedName]T, len(items))
	for _, o := range items {
		fresh[keyOf(o)] = o
	}
	c.mu.Lock()
	old := c.items
	c.items = fresh
	c.mu.Unlock()
	for k, o := range fresh {
		if prev, ok := old[k]; !ok {
			c.fireAdd(o)
		} else if prev.GetResourceVersion() != o.GetResourceVersion() || prev.GetUID() != o.GetUID() {
			if prev.GetUID() != o.GetUID() {
				c.fireDel(prev)
				c.fireAdd(o)
			} else {
				c.fireUpdate(prev, o)
			}
		}
	}
	for k, o := range old {
		if _, ok := fresh[k]; !ok {
			c.fireDel(o)
		}
	}
}

func (c *watchCache[T]) watchFrom(ctx context.Context, rv string) {
	w, err := c.watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		sleepCtx(ctx, 200*time.Millisecond)
		return
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			o, isT := ev.Object.(T)
			switch ev.Type {
			case watch.Added, watch.Modified:
				if !isT {
					continue
				}
				k := keyOf(o)
				c.mu.Lock()
				prev, had := c.items[k]
				c.items[k] = o
				c.mu.Unlock()
				switch {
				case !had:
					c.fireAdd(o)
				case prev.GetUID() != o.GetUID():
					c.fireDel(prev)
					c.fireAdd(o)
				default:
					c.fireUpdate(prev, o)
				}
			case watch.Deleted:
				if !isT {
					continue
				}
				k := keyOf(o)
				c.mu.Lock()
				delete(c.items, k)
				c.mu.Unlock()
				c.fireDel(o)
			case watch.Error:
				return // typically "resource version too old": list again
			}
		}
	}
}

func (c *watchCache[T]) fireAdd(o T) {
	if c.h.add != nil {
		c.h.add(o)
	}
}

func (c *watchCache[T]) fireUpdate(old, cur T) {
	if c.h.update != nil {
		c.h.update(old, cur)
	}
}

func (c *watchCache[T]) fireDel(o T) {
	if c.h.del != nil {
		c.h.del(o)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Typed list functions: each returns pointers into a fresh list, so cached objects are never
// shared with anything that could modify them.

func podCache(cl kubernetes.Interface, ns string, h handlers[*corev1.Pod], logf func(string, ...any)) *watchCache[*corev1.Pod] {
	return newWatchCache("pods in "+ns, func(ctx context.Context, o metav1.ListOptions) ([]*corev1.Pod, string, error) {
		l, err := cl.CoreV1().Pods(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return ptrs(l.Items), l.ResourceVersion, nil
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return cl.CoreV1().Pods(ns).Watch(ctx, o)
	}, h, logf)
}

func configMapCache(cl kubernetes.Interface, ns string, logf func(string, ...any)) *watchCache[*corev1.ConfigMap] {
	return newWatchCache("configmaps in "+ns, func(ctx context.Context, o metav1.ListOptions) ([]*corev1.ConfigMap, string, error) {
		l, err := cl.CoreV1().ConfigMaps(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return ptrs(l.Items), l.ResourceVersion, nil
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return cl.CoreV1().ConfigMaps(ns).Watch(ctx, o)
	}, handlers[*corev1.ConfigMap]{}, logf)
}

func secretCache(cl kubernetes.Interface, ns string, logf func(string, ...any)) *watchCache[*corev1.Secret] {
	return newWatchCache("secrets in "+ns, func(ctx context.Context, o metav1.ListOptions) ([]*corev1.Secret, string, error) {
		l, err := cl.CoreV1().Secrets(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return ptrs(l.Items), l.ResourceVersion, nil
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return cl.CoreV1().Secrets(ns).Watch(ctx, o)
	}, handlers[*corev1.Secret]{}, logf)
}

func pvcCache(cl kubernetes.Interface, ns string, h handlers[*corev1.PersistentVolumeClaim], logf func(string, ...any)) *watchCache[*corev1.PersistentVolumeClaim] {
	return newWatchCache("persistentvolumeclaims in "+ns, func(ctx context.Context, o metav1.ListOptions) ([]*corev1.PersistentVolumeClaim, string, error) {
		l, err := cl.CoreV1().PersistentVolumeClaims(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return ptrs(l.Items), l.ResourceVersion, nil
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return cl.CoreV1().PersistentVolumeClaims(ns).Watch(ctx, o)
	}, h, logf)
}

func serviceCache(cl kubernetes.Interface, logf func(string, ...any)) *watchCache[*corev1.Service] {
	return newWatchCache("services", func(ctx context.Context, o metav1.ListOptions) ([]*corev1.Service, string, error) {
		l, err := cl.CoreV1().Services("").List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return ptrs(l.Items), l.ResourceVersion, nil
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return cl.CoreV1().Services("").Watch(ctx, o)
	}, handlers[*corev1.Service]{}, logf)
}

func sliceCache(cl kubernetes.Interface, logf func(string, ...any)) *watchCache[*discoveryv1.EndpointSlice] {
	return newWatchCache("endpointslices", func(ctx context.Context, o metav1.ListOptions) ([]*discoveryv1.EndpointSlice, string, error) {
		l, err := cl.DiscoveryV1().EndpointSlices("").List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return ptrs(l.Items), l.ResourceVersion, nil
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return cl.DiscoveryV1().EndpointSlices("").Watch(ctx, o)
	}, handlers[*discoveryv1.EndpointSlice]{}, logf)
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
