package edge

import (
	"fmt"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// LoadShadow makes pkg the shadow model: scored next to the served model on
// the same windows, its predictions sent to the predictions stream with the
// edgepm-shadow header (emitShadow), raising no alerts, its comparison with
// the served model in /api/status (model.shadow) and the heartbeat. The
// package must pass the gateway's signature policy and the engine's checks,
// and read the served model's input (inference.Engine.LoadShadow); a
// rejected package leaves the current shadow, if any, in place. The model
// watcher calls it for a release that names a shadow. Safe for concurrent
// use.
func (a *App) LoadShadow(pkg *modelpkg.Package) error { return loadShadow(a.engine, pkg, a.policy) }

// ClearShadow stops scoring the shadow model, if any (see LoadShadow).
// Safe for concurrent use.
func (a *App) ClearShadow() { a.engine.ClearShadow() }

// loadShadow loads pkg as eng's shadow model if it passes policy.
func loadShadow(eng *inference.Engine, pkg *modelpkg.Package, policy modelpkg.Policy) error {
	if err := policy.Check(pkg); err != nil {
		return fmt.Errorf("shadow model: %w", err)
	}
	return eng.LoadShadow(pkg)
}

// loadShadowDir loads the package in dir (inference.shadow_model_dir) as
// eng's shadow model.
func loadShadowDir(eng *inference.Engine, dir string, policy modelpkg.Policy) error {
	pkg, err := modelpkg.LoadPackageDir(dir)
	if err != nil {
		return err
	}
	return loadShadow(eng, pkg, policy)
}
