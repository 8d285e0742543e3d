//! CPU features the field arithmetic needs.
//!
//! On x86-64 zkgrid builds halo2's BN254 field arithmetic from its assembly implementation
//! (`asm` feature of halo2-axiom/halo2curves, enabled in `zkgrid-circuits`), which uses the
//! BMI2 (`MULX`) and ADX (`ADCX`/`ADOX`) instructions: Intel Broadwell (2014), AMD Zen (2017)
//! and every later x86-64 CPU has them. On an older CPU those instructions would kill the
//! process with SIGILL in the middle of a proof; [`check`] turns that into a clear error first.
//! Key generation, proving and verification call it; so does the CLI at start-up.

use crate::error::{ProverError, Result};

/// Fails with [`ProverError::UnsupportedCpu`] if this CPU lacks an instruction the field
/// arithmetic was built with. Always `Ok` on other architectures.
pub fn check() -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("bmi2") {
            return Err(ProverError::UnsupportedCpu { missing: "BMI2" });
        }
        if !std::arch::is_x86_feature_detected!("adx") {
            return Err(ProverError::UnsupportedCpu { missing: "ADX" });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_can_prove() {
        // Every test in this workspace proves on this machine, so the check must pass here.
        assert!(super::check().is_ok());
    }
}
