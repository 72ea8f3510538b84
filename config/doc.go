// Package config reads stepgate's versioned configuration file
// (apiVersion: stepgate.io/v1alpha1, kind: StepgateConfiguration): read,
// then fill in defaults, then validate, with every error naming the field
// path it is about (for example "rules[2].match.verbs[0]"). Unknown fields
// are errors, so a typo never silently means "default".
//
// Relative paths in a file are taken relative to the file's directory.
package config
