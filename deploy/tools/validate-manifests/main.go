// Command validate-manifests checks rendered Kubernetes manifests the way an API server's
// decoder would, without a cluster.
//
// It reads a multi-document YAML stream on standard input, such as the output of
// `helm template`, and decodes every document strictly into the Go type of its apiVersion and
// kind: an unknown kind, an unknown or duplicate field, or a value of the wrong type is an
// error. It also checks object names, label keys and values, and port names with the rules
// the API server applies. It prints one line per problem and exits with 1 when there is any.
//
// NOTE: the API server validates much more, such as the cross-field rules of a pod spec. This
// program catches typos, wrong types and malformed names, not every rejection.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

func main() {
	problems, documents, err := validate(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "validate-manifests: %v\n", err)
		os.Exit(2)
	}
	for _, problem := range problems {
		fmt.Println(problem)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "validate-manifests: %d problems in %d documents\n", len(problems), documents)
		os.Exit(1)
	}
	fmt.Printf("validate-manifests: %d documents valid\n", documents)
}

// validate decodes every document of the stream and returns the problems found and the
// number of non-empty documents.
func validate(input io.Reader) ([]string, int, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, 0, err
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		return nil, 0, err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

	reader := utilyaml.NewYAMLReader(bufio.NewReader(input))
	var problems []string
	documents := 0
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return problems, documents, nil
		}
		if err != nil {
			return nil, documents, fmt.Errorf("reading the YAML stream failed: %w", err)
		}
		if isEmpty(document) {
			continue
		}
		documents++
		object, kind, err := decoder.Decode(document, nil, nil)
		if err != nil {
			problems = append(problems, fmt.Sprintf("document %d: %v", documents, err))
			continue
		}
		where := fmt.Sprintf("%s %s", kind.Kind, nameOf(object))
		for _, problem := range checkObject(object) {
			problems = append(problems, fmt.Sprintf("%s: %s", where, problem))
		}
	}
}

// isEmpty reports whether a document contains only comments and whitespace.
func isEmpty(document []byte) bool {
	for _, line := range bytes.Split(document, []byte("\n")) {
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 && trimmed[0] != '#' && !bytes.Equal(trimmed, []byte("---")) {
			return false
		}
	}
	return true
}

func nameOf(object runtime.Object) string {
	accessor, ok := object.(metav1.Object)
	if !ok {
		return "(unnamed)"
	}
	return accessor.GetName()
}

// checkObject applies the name, label and port-name rules of the API server.
func checkObject(object runtime.Object) []string {
	var problems []string
	accessor, ok := object.(metav1.Object)
	if !ok {
		return []string{"has no object metadata"}
	}
	nameRule := validation.IsDNS1123Subdomain
	if _, isService := object.(*corev1.Service); isService {
		nameRule = validation.IsDNS1035Label
	}
	problems = append(problems, prefix("name", nameRule(accessor.GetName()))...)
	problems = append(problems, checkLabels("label", accessor.GetLabels())...)
	for key := range accessor.GetAnnotations() {
		problems = append(problems, prefix("annotation key "+key, validation.IsQualifiedName(key))...)
	}

	switch typed := object.(type) {
	case *appsv1.Deployment:
		problems = append(problems, checkPod(typed.Spec.Template)...)
	case *appsv1.StatefulSet:
		problems = append(problems, checkPod(typed.Spec.Template)...)
		problems = append(problems, prefix("serviceName", validation.IsDNS1035Label(typed.Spec.ServiceName))...)
	case *corev1.Service:
		for _, port := range typed.Spec.Ports {
			if port.Name != "" {
				problems = append(problems, prefix("port name "+port.Name, validation.IsValidPortName(port.Name))...)
			}
		}
	}
	return problems
}

// checkPod applies label and port-name rules to a pod template, and checks that every probe
// names a port the container declares.
func checkPod(template corev1.PodTemplateSpec) []string {
	problems := checkLabels("pod label", template.Labels)
	containers := append(append([]corev1.Container{}, template.Spec.InitContainers...), template.Spec.Containers...)
	for _, container := range containers {
		problems = append(problems, prefix("container name "+container.Name, validation.IsDNS1123Label(container.Name))...)
		declared := map[string]bool{}
		for _, port := range container.Ports {
			if port.Name != "" {
				declared[port.Name] = true
				problems = append(problems, prefix("port name "+port.Name, validation.IsValidPortName(port.Name))...)
			}
		}
		for _, env := range container.Env {
			problems = append(problems, prefix("env name "+env.Name, validation.IsEnvVarName(env.Name))...)
		}
		probes := []struct {
			kind  string
			probe *corev1.Probe
		}{
			{"startupProbe", container.StartupProbe},
			{"livenessProbe", container.LivenessProbe},
			{"readinessProbe", container.ReadinessProbe},
		}
		for _, entry := range probes {
			if entry.probe == nil || entry.probe.HTTPGet == nil || entry.probe.HTTPGet.Port.StrVal == "" {
				continue
			}
			port := entry.probe.HTTPGet.Port.StrVal
			if !declared[port] {
				problems = append(problems, fmt.Sprintf("container %s: %s uses port %q, which the container does not declare", container.Name, entry.kind, port))
			}
		}
	}
	return problems
}

func checkLabels(what string, labels map[string]string) []string {
	var problems []string
	for key, value := range labels {
		problems = append(problems, prefix(what+" key "+key, validation.IsQualifiedName(key))...)
		problems = append(problems, prefix(what+" "+key+" value "+value, validation.IsValidLabelValue(value))...)
	}
	return problems
}

func prefix(what string, messages []string) []string {
	out := make([]string, 0, len(messages))
	for _, message := range messages {
		out = append(out, what+": "+message)
	}
	return out
}
