package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// ServerSideApply applies every object of a multi-document YAML (or JSON)
// stream with server-side apply, forcing conflicts, in stream order.
// Namespaced objects without a namespace go to namespace (or "default" if
// that is empty too); List objects are applied item by item.
//
// Every object is attempted even after one fails, so one call reports all
// the objects the server rejects, each error naming its object; the result
// is an errors.Join of them, so apierrors.IsInvalid and friends still work.
func ServerSideApply(ctx context.Context, cp *ControlPlane, namespace string, yamlStream []byte, fieldManager string) error {
	return cp.serverSideApply(ctx, cp.dynamic, namespace, yamlStream, fieldManager)
}

// ServerSideApplyWarnings is ServerSideApply that also returns the warnings
// the server sent back, each prefixed with the object it concerns. They
// matter here because Pod Security admission only warns about workload
// objects (StatefulSet, Job, ...) whose Pods it would refuse: the refusal
// itself comes later, from the controller, and only shows up as an Event.
func ServerSideApplyWarnings(ctx context.Context, cp *ControlPlane, namespace string, yamlStream []byte, fieldManager string) ([]string, error) {
	_, warnings, err := cp.applyWarnings(ctx, namespace, yamlStream, fieldManager, false)
	return warnings, err
}

// ServerSideDryRun is ServerSideApplyWarnings with dryRun=All: the server decodes, defaults,
// validates and admits every object (Pod Security included) as for a real apply, stores nothing,
// and answers with the object it would have stored, which this returns too (nil for an object it
// refused): a field the server does not know or has switched off is missing there. Objects of
// the stream cannot rely on each other existing.
func ServerSideDryRun(ctx context.Context, cp *ControlPlane, namespace string, yamlStream []byte, fieldManager string) ([]*unstructured.Unstructured, []string, error) {
	return cp.applyWarnings(ctx, namespace, yamlStream, fieldManager, true)
}

func (cp *ControlPlane) applyWarnings(ctx context.Context, namespace string, yamlStream []byte, fieldManager string, dryRun bool) ([]*unstructured.Unstructured, []string, error) {
	objs, err := DecodeObjects(yamlStream)
	if err != nil {
		return nil, nil, err
	}
	var results []*unstructured.Unstructured
	var warnings []string
	var errs []error
	for _, obj := range objs {
		// A client per object, because a warning handler cannot tell which
		// request a warning belongs to.
		h := &warningCollector{}
		cfg := cp.RESTConfig()
		cfg.WarningHandlerWithContext = h
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, nil, err
		}
		sent, result, err := cp.applyObject(ctx, dyn, namespace, obj, fieldManager, dryRun)
		if err != nil {
			errs = append(errs, err)
		}
		results = append(results, result)
		for _, w := range h.warnings {
			warnings = append(warnings, describe(sent)+": "+w)
		}
	}
	return results, warnings, errors.Join(errs...)
}

type warningCollector struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningCollector) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func (cp *ControlPlane) serverSideApply(ctx context.Context, dyn dynamic.Interface, namespace string, yamlStream []byte, fieldManager string) error {
	objs, err := DecodeObjects(yamlStream)
	if err != nil {
		return err
	}
	var errs []error
	for _, obj := range objs {
		if _, _, err := cp.applyObject(ctx, dyn, namespace, obj, fieldManager, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DecodeObjects reads a multi-document YAML (or JSON) stream into objects, skipping empty
// documents and flattening Lists; a document without kind or apiVersion is an error.
func DecodeObjects(stream []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode document %d: %w", doc, err)
		}
		if len(raw) == 0 { // an empty document, e.g. a trailing "---"
			continue
		}
		obj := &unstructured.Unstructured{Object: raw}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return nil, fmt.Errorf("document %d has no kind or apiVersion", doc)
		}
		if obj.IsList() {
			err := obj.EachListItem(func(item runtime.Object) error {
				objs = append(objs, item.(*unstructured.Unstructured))
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", doc, err)
			}
			continue
		}
		objs = append(objs, obj)
	}
}

// applyObject returns the object as sent, with its namespace filled in, so
// that messages can name it the way the server knows it, and the server's
// answer (nil on an error).
func (cp *ControlPlane) applyObject(ctx context.Context, dyn dynamic.Interface, namespace string, obj *unstructured.Unstructured, fieldManager string, dryRun bool) (sent, result *unstructured.Unstructured, err error) {
	gvk := obj.GroupVersionKind()
	mapping, err := cp.restMapping(gvk)
	if err != nil {
		return obj, nil, fmt.Errorf("apply %s: %w", describe(obj), err)
	}
	// Apply needs the full object body, but must not carry fields the
	// server owns; a resourceVersion would also turn the apply into an
	// optimistic-concurrency check the caller did not ask for.
	obj = obj.DeepCopy()
	obj.SetResourceVersion("")
	obj.SetManagedFields(nil)

	res := dyn.Resource(mapping.Resource)
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = namespace
		}
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		obj.SetNamespace(ns)
		result, err = res.Namespace(ns).Apply(ctx, obj.GetName(), obj, opts)
	} else {
		// A namespace on a cluster-scoped object is ignored by the server;
		// dropping it keeps messages from naming a namespace that plays no part.
		obj.SetNamespace("")
		result, err = res.Apply(ctx, obj.GetName(), obj, opts)
	}
	if err != nil {
		return obj, nil, fmt.Errorf("apply %s: %w", describe(obj), err)
	}
	return obj, result, nil
}

// restMapping resolves a kind through discovery, cached across calls. A
// stream may define a CRD and then use it, so a kind the cache does not know
// triggers one rediscovery before giving up.
func (cp *ControlPlane) restMapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	cp.mapperMu.Lock()
	defer cp.mapperMu.Unlock()
	if cp.mapper == nil {
		cp.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cp.client.Discovery()))
	}
	m, err := cp.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		cp.mapper.Reset()
		m, err = cp.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

func describe(obj *unstructured.Unstructured) string {
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return obj.GetAPIVersion() + " " + obj.GetKind() + " " + name
}
