// Package models embeds the default model package (models/default),
// produced reproducibly by `make model` (go run ./cmd/edgepm-train -out
// models/default) from firmware-sim data. It is unsigned: the appliance
// hands it to inference.Engine.Load without applying the signature policy
// (modelpkg.Policy), trusting these bytes as far as the binary that embeds
// them; every other check runs. Nothing here blocks; Default is safe for concurrent use.
package models

import "embed"

//go:embed default/*
var files embed.FS

// Default returns the default package's manifest.json and model.onnx bytes.
// The slices are copies the caller may keep or modify.
func Default() (manifest, onnx []byte) {
	m, err := files.ReadFile("default/manifest.json")
	if err != nil {
		return nil, nil
	}
	o, err := files.ReadFile("default/model.onnx")
	if err != nil {
		return nil, nil
	}
	return m, o
}
