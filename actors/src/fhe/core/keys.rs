//! A key set on disk, written once by `swarm fhe keygen` and loaded at start:
//! `client_key.bin` (mode 0600; the only key that decrypts), `server_key.bin` (compressed;
//! all compute workers need), `public_key.bin` (the compact public key clients encrypt
//! with) and `keys.json` (the parameter set's name). Every file goes through tfhe's safe
//! serialisation (a versioned header naming the type) and, where tfhe offers it, a
//! conformance check against the parameter set.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tfhe::safe_serialization::{safe_deserialize, safe_deserialize_conformant, safe_serialize};
use tfhe::{ClientKey, CompactPublicKey, CompressedServerKey, ServerKey};

use super::FheError;
use super::params::{PARAMS_VERSION, config, pke};

const MANIFEST: &str = "keys.json";
const CLIENT: &str = "client_key.bin";
const SERVER: &str = "server_key.bin";
const PUBLIC: &str = "public_key.bin";

/// Largest key file read (the compressed server key is ~60 MiB).
const KEY_LIMIT: u64 = 1 << 30;

/// What a server loads: the compute key and the public key (with its file's bytes, which
/// are what `GET /v1/fhe/public-key` serves).
pub struct ServerKeys {
    /// The key every FHE worker thread sets.
    pub server: ServerKey,
    /// The key clients encrypt with.
    pub public: CompactPublicKey,
    /// `public_key.bin` as stored.
    pub public_bytes: Vec<u8>,
}

/// Sizes of a freshly written key set, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct KeyFiles {
    /// `client_key.bin`.
    pub client: u64,
    /// `server_key.bin` (compressed).
    pub server: u64,
    /// `public_key.bin`.
    pub public: u64,
}

fn io(path: &Path, e: impl std::fmt::Display) -> FheError {
    FheError::Keys(format!("{}: {e}", path.display()))
}

fn serialized<T>(value: &T, path: &Path) -> Result<Vec<u8>, FheError>
where
    T: serde::Serialize + tfhe::Versionize + tfhe::named::Named,
{
    let mut bytes = Vec::new();
    safe_serialize(value, &mut bytes, KEY_LIMIT).map_err(|e| io(path, e))?;
    Ok(bytes)
}

/// Writes `bytes` to `path` through a synced temporary file and a rename; `private` files
/// are created readable by their owner only.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), FheError> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// Generates a key set into `dir` (created if missing). Refuses to replace an existing
/// one: ciphertexts made under it could never be decrypted again.
pub fn generate(dir: &Path) -> Result<KeyFiles, FheError> {
    if dir.join(MANIFEST).exists() {
        return Err(FheError::Keys(format!(
            "{} already holds a key set; remove it first to make a new one",
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let client = ClientKey::generate(config());
    let server = CompressedServerKey::new(&client);
    let public = CompactPublicKey::try_new(&client).map_err(|e| io(dir, e))?;
    let files = [
        (CLIENT, serialized(&client, &dir.join(CLIENT))?, true),
        (SERVER, serialized(&server, &dir.join(SERVER))?, false),
        (PUBLIC, serialized(&public, &dir.join(PUBLIC))?, false),
    ];
    for (name, bytes, private) in &files {
        write_file(&dir.join(name), bytes, *private)?;
    }
    // The manifest last: a directory without it is an unfinished key set.
    let manifest = serde_json::json!({ "params": PARAMS_VERSION });
    write_file(&dir.join(MANIFEST), manifest.to_string().as_bytes(), false)?;
    Ok(KeyFiles {
        client: files[0].1.len() as u64,
        server: files[1].1.len() as u64,
        public: files[2].1.len() as u64,
    })
}

/// Checks that `dir` holds a finished key set for this parameter set (what `swarm
/// validate` and start-up check before loading anything).
pub fn check(dir: &Path) -> Result<(), String> {
    let manifest = dir.join(MANIFEST);
    let text = fs::read_to_string(&manifest).map_err(|_| {
        format!(
            "no FHE key set in {} (make one with `swarm fhe keygen --out {}`)",
            dir.display(),
            dir.display()
        )
    })?;
    let params = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["params"].as_str().map(str::to_string))
        .ok_or_else(|| format!("{}: not a key manifest", manifest.display()))?;
    if params != PARAMS_VERSION {
        return Err(format!(
            "{} holds keys for parameter set `{params}`; this swarm uses `{PARAMS_VERSION}`",
            dir.display()
        ));
    }
    for name in [SERVER, PUBLIC] {
        if !dir.join(name).is_file() {
            return Err(format!("{}: missing", dir.join(name).display()));
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, FheError> {
    fs::read(path).map_err(|e| io(path, e))
}

/// Loads the compute and public keys (the compressed server key is decompressed here).
pub fn load_server(dir: &Path) -> Result<ServerKeys, FheError> {
    check(dir).map_err(FheError::Keys)?;
    let server_path = dir.join(SERVER);
    let compressed: CompressedServerKey =
        safe_deserialize_conformant(read(&server_path)?.as_slice(), KEY_LIMIT, &config().into())
            .map_err(|e| io(&server_path, e))?;
    let public_path = dir.join(PUBLIC);
    let public_bytes = read(&public_path)?;
    let public: CompactPublicKey =
        safe_deserialize_conformant(public_bytes.as_slice(), KEY_LIMIT, &pke())
            .map_err(|e| io(&public_path, e))?;
    Ok(ServerKeys {
        server: compressed.decompress(),
        public,
        public_bytes,
    })
}

/// Loads the client key: only the key holder calls this.
pub fn load_client(dir: &Path) -> Result<ClientKey, FheError> {
    check(dir).map_err(FheError::Keys)?;
    let path: PathBuf = dir.join(CLIENT);
    safe_deserialize(read(&path)?.as_slice(), KEY_LIMIT).map_err(|e| io(&path, e))
}

/// Reads a public key served by `GET /v1/fhe/public-key` (or a key directory's
/// `public_key.bin`), checked against the parameter set.
pub fn read_public(bytes: &[u8]) -> Result<CompactPublicKey, FheError> {
    safe_deserialize_conformant(bytes, KEY_LIMIT, &pke())
        .map_err(|e| FheError::Keys(format!("public key: {e}")))
}

/// The public key file of a key directory.
pub fn public_key_path(dir: &Path) -> PathBuf {
    dir.join(PUBLIC)
}
