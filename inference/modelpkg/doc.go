// Package modelpkg is the model package of edgepm as data: the manifest
// (Manifest, DecodeManifest, Encode, Validate), the package directory
// (Package, LoadPackageDir, WritePackageDir, NewPackage, SHA256Hex), ed25519
// signing (Sign, Verify, SignedMessage), the signature policy of a gateway
// (Policy), the reasons a package is rejected (RejectError, Reason*) and the
// on-disk model store of a gateway (Store: data_dir/models).
//
// It has no cgo and does not link ONNX Runtime, so the Kafka bridge and the
// operator's `edgepm model` commands use it without the inference engine.
// The engine (package inference) loads a Package and checks what needs
// ONNX Runtime: the graph's inputs and outputs, a warm-up run, the samples.
//
// # Formats
//
//   - The package: manifest.json, model.onnx, manifest.sig;
//     docs/formats/model-package.md. The manifest carries schema_version
//     (SchemaVersion, 1); DecodeManifest rejects any other version, and a
//     later version will be read by a decoder chosen on that field.
//   - The signature: ed25519 over SignatureContext followed by the sha256 of
//     the exact manifest.json bytes (SignedMessage); manifest.sig holds it in
//     base64. The manifest holds onnx_sha256, so the signature covers both.
//   - The model store: DIR/NAME/VERSION/ (a package directory),
//     DIR/NAME/current, DIR/.selected and DIR/.staging/NAME/VERSION/I;
//     docs/formats/model-delivery.md ("On the gateway").
//
// # Signature policy
//
// A Policy (public keys, allow_unsigned) is built once from the
// configuration and is the only place a signature is judged. Whatever
// accepts a package from outside the binary applies it before the package
// is staged, stored or served: the model watcher (bridge) for packages from
// the models topic and for the stored package at restart, and the start-up
// loader (edge) for inference.model_dir. The embedded default model is
// trusted as far as the binary is and is not checked.
//
// # Concurrency
//
// Functions and the Manifest, Package and Policy values are safe for
// concurrent use as long as nobody modifies a value another goroutine
// reads. DecodeManifest, Verify and Policy.Check never panic on bad input.
// LoadPackageDir, WritePackageDir and every Store method block on the file
// system; a Store belongs to one goroutine (the model watcher's).
package modelpkg
