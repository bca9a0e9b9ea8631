package v1alpha1

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults a careful operator would choose; each is documented in the README's spec reference.
const (
	DefaultTargetCPU        int32 = 70
	DefaultRetention              = "Retain"
	DefaultCPURequest             = "250m"
	DefaultMemoryRequest          = "256Mi"
	DefaultMemoryLimit            = "1Gi"
	DefaultEphemeralRequest       = "64Mi"
	DefaultEphemeralLimit         = "1Gi"
	DefaultShrinkImage            = "ghcr.io/rqlite/rqlite-krm:v0.1.0"
	defaultImagePullPolicy        = corev1.PullIfNotPresent
	defaultServiceType            = corev1.ServiceTypeClusterIP
)

// Default returns a copy of the spec with every unset optional field filled in. It never changes a
// value the user wrote, and it does not validate: Validate runs on its result.
func Default(in *RqliteSpec) *RqliteSpec {
	s := in.DeepCopy()
	c := &s.Spec
	if s.APIVersion == "" {
		s.APIVersion = APIVersion
	}
	if s.Kind == "" {
		s.Kind = Kind
	}
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultImagePullPolicy
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	if c.Voters.Replicas == nil {
		c.Voters.Replicas = ptr(int32(DefaultVoters))
	}
	defaultPool(&c.Voters.Pool)
	if ro := c.ReadOnly; ro != nil {
		defaultPool(&ro.Pool)
		if a := ro.Autoscaling; a != nil && a.TargetCPUUtilizationPercentage == nil {
			a.TargetCPUUtilizationPercentage = ptr(DefaultTargetCPU)
		}
		if ro.Replicas == nil && ro.Autoscaling == nil {
			ro.Replicas = ptr(int32(0))
		}
	}
	if c.Storage.Size == nil {
		q := resource.MustParse(DefaultStorageSize)
		c.Storage.Size = &q
	}
	if c.Storage.RetentionPolicy.WhenDeleted == "" {
		c.Storage.RetentionPolicy.WhenDeleted = DefaultRetention
	}
	if c.Storage.RetentionPolicy.WhenScaled == "" {
		c.Storage.RetentionPolicy.WhenScaled = DefaultRetention
	}
	if c.Service.Type == "" {
		c.Service.Type = defaultServiceType
	}
	if c.NetworkPolicy.Enabled == nil {
		c.NetworkPolicy.Enabled = ptr(true)
	}
	if c.Shrink.Enabled == nil {
		c.Shrink.Enabled = ptr(true)
	}
	if c.Shrink.Image == "" {
		c.Shrink.Image = DefaultShrinkImage
	}
	if m := c.Metrics; m != nil {
		if m.Image == "" {
			m.Image = c.Shrink.Image
		}
		if m.Credentials != nil {
			defaultKey(&m.Credentials.PasswordSecret, "password")
		}
	}
	if c.Naming == "" {
		c.Naming = NamingDefault
	}
	if t := c.TLS; t != nil {
		defaultTLS(t.Node, s.Metadata.Name+"-node-tls")
		defaultTLS(t.Client, s.Metadata.Name+"-client-tls")
	}
	if a := c.Auth; a != nil {
		defaultKey(&a.UsersSecret, "users.json")
		if a.ShrinkUser != nil {
			defaultKey(&a.ShrinkUser.PasswordSecret, "password")
		}
	}
	if b := c.Backup; b != nil {
		if b.Interval == "" {
			b.Interval = DefaultBackupInterval
		}
		if b.Compress == nil {
			b.Compress = ptr(true)
		}
		if s3 := b.S3; s3 != nil {
			if s3.AccessKeyID != nil {
				defaultKey(s3.AccessKeyID, "access-key-id")
			}
			if s3.SecretAccessKey != nil {
				defaultKey(s3.SecretAccessKey, "secret-access-key")
			}
		}
		if g := b.GCS; g != nil {
			defaultKey(&g.CredentialsSecret, "credentials.json")
		}
		if r := b.Restore; r != nil && r.Timeout == "" {
			r.Timeout = DefaultRestoreTimeout
		}
	}
	return s
}

// Defaults of the optional features.
const (
	DefaultBackupInterval = "1h"
	DefaultRestoreTimeout = "5m"
)

func defaultTLS(t *TLSConfig, secret string) {
	if t == nil {
		return
	}
	if t.SecretName == "" && t.CertManager != nil {
		t.SecretName = secret
	}
	if cm := t.CertManager; cm != nil {
		if cm.IssuerRef.Kind == "" {
			cm.IssuerRef.Kind = "Issuer"
		}
		if cm.IssuerRef.Group == "" {
			cm.IssuerRef.Group = "cert-manager.io"
		}
	}
}

func defaultKey(r *SecretKeyRef, key string) {
	if r.Key == "" {
		r.Key = key
	}
}

func defaultPool(p *Pool) {
	if p.Resources == nil {
		p.Resources = &corev1.ResourceRequirements{}
	}
	r := p.Resources
	// CPU gets a request but no limit: a throttled leader misses heartbeats and triggers elections,
	// which hurts far more than a noisy neighbour. Memory and scratch space are bounded.
	defaultResource(r, corev1.ResourceCPU, DefaultCPURequest, "")
	defaultResource(r, corev1.ResourceMemory, DefaultMemoryRequest, DefaultMemoryLimit)
	defaultResource(r, corev1.ResourceEphemeralStorage, DefaultEphemeralRequest, DefaultEphemeralLimit)
	if p.Scheduling.AntiAffinity == "" {
		p.Scheduling.AntiAffinity = AntiAffinityPreferred
	}
}

// defaultResource fills a request and a limit the user left out, so that the pair stays valid
// whatever the user did set: a default request never exceeds the user's limit, and a default limit
// never falls below the user's request.
func defaultResource(r *corev1.ResourceRequirements, name corev1.ResourceName, request, limit string) {
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	userLimit, hasLimit := r.Limits[name]
	if _, ok := r.Requests[name]; !ok {
		q := resource.MustParse(request)
		if hasLimit && q.Cmp(userLimit) > 0 {
			q = userLimit.DeepCopy()
		}
		r.Requests[name] = q
	}
	if limit == "" || hasLimit {
		return
	}
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{}
	}
	q := resource.MustParse(limit)
	if req := r.Requests[name]; req.Cmp(q) > 0 {
		q = req.DeepCopy()
	}
	r.Limits[name] = q
}

func ptr[T any](v T) *T { return &v }

// DeepCopy returns an independent copy. A JSON round trip is exact for this API (every field has a
// JSON form) and keeps the copy correct as fields are added.
func (in *RqliteSpec) DeepCopy() *RqliteSpec {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("RqliteSpec is always JSON-encodable: %v", err))
	}
	out := &RqliteSpec{}
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("RqliteSpec always decodes its own JSON: %v", err))
	}
	return out
}
