//! Generates the layer-198 API definitions from `tl/api198.tl` with grammers' own generator
//! (`grammers-tl-parser` + `grammers-tl-gen`, the versions grammers-tl-types 0.11 builds with).
//! Only the API schema is generated; MTProto service types come from `grammers-tl-types`.

use std::env;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::PathBuf;

use grammers_tl_gen::{generate_rust_code, Config, Outputs};
use grammers_tl_parser::errors::ParseError;
use grammers_tl_parser::parse_tl_file;
use grammers_tl_parser::tl::Definition;

const SCHEMA: &str = "tl/api198.tl";

/// The parser rejects exactly one definition, as it does in grammers-tl-types' own api.tl:
/// the built-in `vector#1cb5c415 {t:Type} # [ t ] = Vector t;` (`NotImplemented`; vectors are
/// special-cased by the generator). Anything beyond that means the schema needs a look.
const EXPECTED_REJECTS: usize = 1;

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed={SCHEMA}");
    println!("cargo:rerun-if-changed=build.rs");

    let text = fs::read_to_string(SCHEMA)?;

    // The layer comes from a line that is exactly `// LAYER <n>`.
    let layer: i32 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("// LAYER ")?.trim().parse().ok())
        .expect("no `// LAYER <n>` line in tl/api198.tl");

    let mut definitions: Vec<Definition> = Vec::new();
    let mut rejects = Vec::new();
    for def in parse_tl_file(&text) {
        match def {
            Ok(d) => definitions.push(d),
            Err(e) => rejects.push(e),
        }
    }
    assert!(
        rejects.len() == EXPECTED_REJECTS
            && rejects
                .iter()
                .all(|e| matches!(e, ParseError::NotImplemented)),
        "{SCHEMA}: unexpected TL parse errors (only `vector` should be rejected): {rejects:?}"
    );

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let file = |name: &str| File::create(out.join(name)).map(BufWriter::new);
    let mut outputs = Outputs {
        common: file("generated_common.rs")?,
        types: file("generated_types.rs")?,
        functions: file("generated_functions.rs")?,
        enums: file("generated_enums.rs")?,
    };
    let config = Config {
        gen_name_for_id: true,
        // The mock DC decodes client requests, so functions must be Deserializable too.
        deserializable_functions: true,
        impl_debug: true,
        impl_from_enum: true,
        impl_from_type: true,
        impl_serde: false,
    };
    generate_rust_code(&mut outputs, &definitions, layer, &config)?;
    outputs.flush()
}
