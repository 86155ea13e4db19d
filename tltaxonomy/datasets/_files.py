"""Data files: where they live, how they are verified and how they are downloaded.

The benchmark files are research data with mostly unstated licences, so the toolkit never ships them:
it finds them in a *data directory* (:func:`get_data_dir`) and can download them from the pinned-commit
raw GitHub URL of their upstream repository, verifying the sha256 before anything appears at the final
path.

Gzip-ed files
-------------
Some files are stored gzip-ed in the data directory while the upstream repository holds the
uncompressed bytes (the Amazon ``*.svmlight`` files of DANN, the raw review text). For these
:attr:`RemoteFile.uncompressed_sha256` is the sha256 of the upstream (uncompressed) bytes. A download
checks the downloaded bytes against that hash and then gzips them into place deterministically
(``mtime=0``, no file name). Because different gzip implementations produce different compressed
bytes, a gzip-ed file is accepted when either its own sha256 is the pinned :attr:`RemoteFile.sha256`
**or** its decompressed content has the pinned :attr:`RemoteFile.uncompressed_sha256`. The loaders
therefore always read the ``.gz`` name.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .._errors import DataChecksumError, DataFileError, DataFileNotFoundError

__all__ = [
    "RemoteFile",
    "REMOTE_FILES",
    "DATA_DIR_ENV",
    "DATA_URL_ENV",
    "CACHE_DIR_ENV",
    "get_data_dir",
    "get_cache_dir",
    "ensure_file",
    "verify_file",
    "download_file",
    "check_member_name",
    "safe_extract",
]

#: Environment variable naming the data directory.
DATA_DIR_ENV = "TLTAX_DATA_DIR"
#: Environment variable replacing ``https://raw.githubusercontent.com`` in download URLs (a mirror,
#: or a local test server).
DATA_URL_ENV = "TLTAX_DATA_URL"
#: Environment variable naming the cache directory (decoded arrays derived from the data files, e.g.
#: the resized Office+Caltech10 images); see :func:`get_cache_dir`.
CACHE_DIR_ENV = "TLTAX_CACHE_DIR"
#: The prefix of every pinned download URL; :data:`DATA_URL_ENV` / ``base_url`` replaces it.
RAW_GITHUB = "https://raw.githubusercontent.com"

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A data file: its place in the data directory, its pinned hash and where to download it.

    Parameters
    ----------
    path : str
        Path relative to the data directory, with ``/`` separators.
    sha256 : str
        sha256 of the file as stored in the data directory.
    url : str or None
        Pinned-commit download URL (``https://raw.githubusercontent.com/<repo>/<commit>/<path>``), or
        ``None`` for files that were re-packed and have no single upstream file (see ``note``).
    size : int
        Size in bytes of the file as stored.
    uncompressed_sha256 : str or None, default=None
        For a file stored gzip-ed: sha256 of its decompressed content (= the upstream bytes when
        upstream is uncompressed). See the module docstring.
    note : str or None, default=None
        How to obtain the file when ``url`` is ``None``.
    """

    path: str
    sha256: str
    url: str | None
    size: int
    uncompressed_sha256: str | None = None
    note: str | None = None

    @property
    def name(self) -> str:
        """The file name (last path component)."""
        return self.path.rsplit("/", 1)[-1]


def _gh(repo: str, commit: str, path: str) -> str:
    return f"{RAW_GITHUB}/{repo}/{commit}/{path}"


def _catalogue() -> dict[str, RemoteFile]:
    """All files of ``MANIFEST.md`` (the shared data), keyed by their path in the data directory."""
    files: list[RemoteFile] = []

    # Office+Caltech10 SURF (Gong et al. 2012), via jindongwang/transferlearning.
    repo, commit = "jindongwang/transferlearning", "73cb050b7e8b969b9d0ebb04a9377aa033043eb2"
    for name, sha, size in [
        ("Caltech10_SURF_L10.mat", "4f9334c8ced489d5054de97a5fd51a61f017f3bcd1f38c9a85c6d78cb9d7bda5", 150751),
        ("amazon_SURF_L10.mat", "df32548b994e18d364c99e1f317e1fae100597259f0423a41b90f4f68187bb1f", 104970),
        ("dslr_SURF_L10.mat", "44d673c68e1d07b837893aa74dba3b986e4a6cc3fd66f0dd357683bdef059216", 18348),
        ("webcam_SURF_L10.mat", "a6a9c78b4b7181dfbb58bcfd351d4ebd737f171c31247b8884948aa156d3f700", 32406),
    ]:
        files.append(RemoteFile(f"office_caltech10_surf/{name}", sha, _gh(repo, commit, f"code/BDA/data/{name}"), size))

    # Amazon reviews, 400-d mSDA features (skada-bench).
    repo, commit = "scikit-adaptation/skada-bench", "3e0c204b78d1b3d8eb5afee238c7aa8d564ad75f"
    for name, sha, size in [
        ("books_400.mat", "7a53b54f0c0e81e7ee4774d762a927399cede9a802a2409732ba00cc1c23a17a", 356724),
        ("dvd_400.mat", "13a71d399f9c7ae57064952979c830455057ffd0a8da73f2c9075338d64d98ce", 360255),
        ("elec_400.mat", "f1dd6e01c1eed956d3abe6493a6bb5efc95e6585b8b9b2d856c0c07e12893a35", 316867),
        ("kitchen_400.mat", "b1f4e5ddfbd7b37ad2638fccbf83bd8558abf63b3e8d69a9d5bca77b1a49fed5", 287938),
        ("readme.txt", "1ad4f94670e7492ec5ef9a6fe26c03e4786990a554e84138792a79f525e3be7b", 457),
    ]:
        files.append(
            RemoteFile(f"amazon_reviews_msda400/{name}", sha, _gh(repo, commit, f"data/amazon_review/{name}"), size)
        )

    # Amazon reviews, DANN 5000-d svmlight (stored gzip-ed here, uncompressed upstream).
    repo, commit = "GRAAL-Research/domain_adversarial_neural_network", "74eec5e0ae06bd6614bce048abba492c16a633e3"
    for name, sha, size, usha in [
        ("books_test", "0f139e7404dda1c014a6410b485513e163bf16526da4cbdcd6dac893ce4b9842", 742401,
         "fe4605c7dcf0e0a9410fd2a32f247caaf9abb352cc6e4c3e0f400853163ad9c4"),
        ("books_train", "93a6e772bb6a55f728a31bcd405091cfbdd83c65e0592ced4edafed0556d00db", 348354,
         "317f9a2ec34b81de770b63a84d8c5cc2dc16bd0be6e079d2ff5b5bad5213ea19"),
        ("dvd_test", "657046eca0635f24d045466d2d9ed76161fbe7e0bbe95b2ec3a92da88b7b8e46", 624212,
         "4fe1b1a15010f78d8d0c49fe362d35fd4677463a45f1ac02a9f410ae1e638060"),
        ("dvd_train", "ea44d696f2e32d93c4b5f53dc3f5b50aa17a4e2c1af88530cb88ea1d32609ed4", 346740,
         "95f602aa08bf6b55758f7b0b18df3882fe30acb11987ee60b6b4bb3c44cba733"),
        ("electronics_test", "cad5419fa3f27bf00b877418c9f848782c80051a875e077871f30f112c17ddcd", 751421,
         "641783bc941839c3a111d3488a1b7e3bd820a61ec14a129e7429b47703aa961d"),
        ("electronics_train", "10d34b416b4c7e4e55227e136a85da9493937ea2b12149f814ed6cacec0cb972", 267317,
         "7d0061f03ff3827e4f8036b051b5e5828fddc0cd115aa5b212cd28d624dc14e4"),
        ("kitchen_test", "270ff6cfa01e2bbefd47798ac11f491dff11c3a34a09faec0852d30704283ec0", 691817,
         "e1502b97a824eb12314be4447394fa736fecb781c0724e6529cd6733ac7ff6d8"),
        ("kitchen_train", "a7c6491d2b917bca70968b9ea0a45d9cbf07717a00fc17224ceadbf2d473151e", 235221,
         "a70b5ebfe1413e0e16280360905f5c3b64389c435cd20c0165dc9d7f293b31b5"),
    ]:
        files.append(
            RemoteFile(
                f"amazon_reviews_dann5000/{name}.svmlight.gz", sha,
                _gh(repo, commit, f"data/{name}.svmlight"), size, uncompressed_sha256=usha,
            )
        )

    # Amazon reviews raw text (PBLM), stored gzip-ed here, uncompressed upstream.
    repo, commit = "yftah89/PBLM-Domain-Adaptation", "2eef6454720535ceac864d1c07852f61d61e963c"
    for dom, pol, sha, size, usha in [
        ("books", "negative", "ac8c25c812b37904d839ca5b64c0be1ccea34ce1b9dbd2fcdbc3e23547e26ec8", 421478,
         "c212e6f8601db51807baefc7db44e0c96c900fb53da16e57beaa7b96074a9c58"),
        ("books", "positive", "9b8c78ea07344695acd6781df4cf1b566695c10fe084390b905ce47478ea4658", 402527,
         "b740263ec09f4e8b070ba82dd160306d0bd870eb394bc8d6e191d76986c30b98"),
        ("dvd", "negative", "74047146915eb4f40bb70612914295c1cf3621cefff1908e0e6edba70f237e18", 378109,
         "58c9e62eb5e97de4dbc7817d4549c6cd23fb947d6403eaddae1cebc7a8459b17"),
        ("dvd", "positive", "6408432ae5377d80353f3ef6ea4b4d8980f57601ceff99114d74bedbf6b67d0b", 426645,
         "3258e0b744068d5cf493b585edba40bd9f29ff457f7ff01be8b94c3af792047c"),
        ("electronics", "negative", "307b96d9f81f95795daa2dbfa65172676ebdec465002442be593f5e4cc73aa31", 245473,
         "f09930ad7cbf8e6e3be6add636c932c197ec7d55f351907d6c3cadc22bf4eeb0"),
        ("electronics", "positive", "4966a9f7c4664d2eee08781f3737af9993f72bd92c7b4babb96e520ce37b59c0", 243158,
         "f4eee889891058bee5c0773f7c6862f8dc9ea59ef182d170ee42de2ff2c4844e"),
        ("kitchen", "negative", "5a03967419173bf5cc8011ccd83eb19321f3ad2367e5e79a2ada3249fd694ef0", 203466,
         "a73bb3dcbe165d18983aa37fa8afc1b745a643582b422b78d1d95ee4e0576318"),
        ("kitchen", "positive", "676ddcd33dac11e1df4e148b50b9aa5f1d3120a32deb5be54ef3bd5f1d9120d1", 203245,
         "bf12d5495293d490c61665111f55e33243cfa7281b96e62e467bc84d3b7e7a58"),
    ]:
        files.append(
            RemoteFile(
                f"amazon_reviews_text/{dom}_{pol}.parsed.gz", sha,
                _gh(repo, commit, f"data/{dom}/{pol}.parsed"), size, uncompressed_sha256=usha,
            )
        )

    # MNIST test set + training labels (mnhng/CoPA). The upstream path ends in .gz; whether GitHub serves
    # the gzip or the raw IDX bytes, the download accepts both (see download_file).
    repo, commit = "mnhng/CoPA", "a2b2efd3920119dcc3ed40d9015581265bdfc128"
    for name, sha, size, usha in [
        ("t10k-images-idx3-ubyte.gz", "1488b2253c7678056ecec4d0a5964be6cf8cf6dc6411b21a48d77a497fefe2be", 1648877,
         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ("t10k-labels-idx1-ubyte.gz", "daa0ca80179b076764a51a527b4850de26f321125e4d2d55cf279fff0a4b4c4d", 4542,
         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ("train-labels-idx1-ubyte.gz", "fcb926fa5ff984538180eace535719f90b4ac475ee857571c580b931884a5ec5", 28881,
         "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ]:
        files.append(RemoteFile(f"mnist/{name}", sha, _gh(repo, commit, f"data/mnist/{name}"), size, usha))

    # MNIST+USPS of the JDA protocol (chamwen/JPDA), MATLAB v7.3.
    repo, commit = "chamwen/JPDA", "b056e5eca625fc480aa605242348809f9199d5f8"
    for name, sha in [
        ("MNIST_vs_USPS.mat", "7fbb67f14af7236e18a38dc8a0a836142361e9e720e4b763a5e2db511d306d6c"),
        ("USPS_vs_MNIST.mat", "1f3f217d303cc4891589024bf7b620ee3f4dee867652fd27767387e64475d979"),
    ]:
        files.append(RemoteFile(f"mnist_usps_jda/{name}", sha, _gh(repo, commit, f"data/{name}"), 3044944))

    # Full USPS (HDF5).
    files.append(
        RemoteFile(
            "usps/usps.h5", "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
            _gh("niuers/Learning-From-Data-A-Short-Course", "879a698b960e5867f7c2b11f8938fa89c3d21839", "data/usps.h5"),
            2913522,
        )
    )

    # MALSAR multi-task data.
    repo, commit = "jiayuzhou/MALSAR", "fb9751594983df020ddc4f7e4a40520ee7c37989"
    for name, upstream, sha, size in [
        ("newsgroup_comp.vs.sci_task1.mat", "data/Newsgroup/comp.vs.sci/task1.mat",
         "136e73185215cdc5fe7af4c2e0d86dae9da864e119fef95253ef6614d139d7ab", 233347),
        ("newsgroup_comp.vs.sci_task2.mat", "data/Newsgroup/comp.vs.sci/task2.mat",
         "efafdffe36f05668f9cd638cbfad45a96b6e69e385a65fb7a24dda6082adec52", 209328),
        ("newsgroup_rec.vs.talk_Task1.mat", "data/Newsgroup/rec.vs.talk/Task1.mat",
         "2ccc2c933adb5e9a88524e0d0a90022ee925e3395fead485c2d7d31a14149997", 251693),
        ("newsgroup_rec.vs.talk_Task2.mat", "data/Newsgroup/rec.vs.talk/Task2.mat",
         "162fe06ddbad645577a2c538645f72115416811f8ee6dffc2fe2944a1c632e08", 184593),
        ("school.mat", "data/school.mat", "57fb3238fdd03a9aa17276e2ce18d9bbb5d128c3261e794fe6233b58b6909068", 44759),
    ]:
        files.append(RemoteFile(f"multitask_malsar/{name}", sha, _gh(repo, commit, upstream), size))

    # Re-packed here: no single upstream file.
    files.append(
        RemoteFile(
            "20newsgroups/20news-bydate.tar.gz", "0e49c202e05806a47ee46e06ef2507980dd289da710dda1b77559a26f0d213f4",
            None, 14388132,
            note=(
                "This archive was re-packed from the trees data/20news-bydate-train and data/20news-bydate-test of "
                "https://github.com/julenminer/mlnn_P65 at commit 7393be663c8dd63e64c8264476494e62edf05c6e (the "
                "standard 20news-bydate.tar.gz layout); there is no single file to download. Use the standard "
                "'20news-bydate.tar.gz' from the 20 Newsgroups home page or build it from that repository, and "
                "place it at this path (its sha256 may then differ from the pinned one)."
            ),
        )
    )
    files.append(
        RemoteFile(
            "office_caltech10_images/office_caltech10_images.tar",
            "dadd156bac4308499e282e04a2a33a2f1f15a57509bbea30dca9bc2e5167599d", None, 57251840,
            note=(
                "This tar was re-packed (sorted names, fixed mtime) from the tree images/ of "
                "https://github.com/redhat12345/OfficeCaltechDomainAdaptation at commit "
                "74f70487e1b975d1af05bb9a2ecfbf14a7000080; there is no single file to download. Clone that "
                "repository at that commit and run `tar --sort=name --mtime=@0 -cf office_caltech10_images.tar "
                "images` in it, then place the tar at this path."
            ),
        )
    )
    return {f.path: f for f in files}


#: Every file of the shared benchmark data, keyed by its path relative to the data directory.
REMOTE_FILES: dict[str, RemoteFile] = _catalogue()


def get_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the data directory.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Explicit directory; wins over everything else.

    Returns
    -------
    pathlib.Path
        ``data_dir`` if given, else the environment variable ``TLTAX_DATA_DIR`` if set and not empty,
        else ``$XDG_DATA_HOME/tltaxonomy/data`` (``XDG_DATA_HOME`` defaults to ``~/.local/share``).
        The directory is not created.
    """
    return _resolve_dir(data_dir, DATA_DIR_ENV, "XDG_DATA_HOME", (".local", "share"), ("tltaxonomy", "data"))


def _resolve_dir(explicit, env_name: str, xdg_name: str, xdg_default: tuple[str, ...], leaf: tuple[str, ...]) -> Path:
    """``explicit``, else ``$env_name``, else ``$xdg_name`` (default ``~/<xdg_default>``) / ``leaf``."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(env_name, "")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get(xdg_name, "")
    base = Path(xdg).expanduser() if xdg else Path.home().joinpath(*xdg_default)
    return base.joinpath(*leaf)


def get_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache directory of arrays decoded from the data files.

    Derived arrays (e.g. the decoded and resized ``office_caltech_images``) are cached here, keyed by
    the sha256 and size of the data file they come from, so deleting the folder only costs time. It is
    independent of the data directory, which may be read-only or shared.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Explicit directory; wins over everything else.

    Returns
    -------
    pathlib.Path
        ``cache_dir`` if given, else the environment variable ``TLTAX_CACHE_DIR`` if set and not empty,
        else ``$XDG_CACHE_HOME/tltaxonomy`` (``XDG_CACHE_HOME`` defaults to ``~/.cache``). The
        directory is not created.
    """
    return _resolve_dir(cache_dir, CACHE_DIR_ENV, "XDG_CACHE_HOME", (".cache",), ("tltaxonomy",))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sha256_gunzip(path: Path) -> str | None:
    """sha256 of the decompressed content of ``path``, or ``None`` if it is not a valid gzip file."""
    h = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return h.hexdigest()


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


# (resolved path, size, mtime_ns, expected sha256) of files verified in this process.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def _fetch_hint(dataset: str | None) -> str:
    if dataset:
        return f"`tltax data fetch {dataset}`"
    return "`tltax data fetch <dataset>`"


def _owner_dataset(remote: RemoteFile) -> str | None:
    """The first registered dataset listing ``remote`` (for error messages), or None."""
    try:
        from ._core import _REGISTRY
    except ImportError:  # pragma: no cover - only during partial imports
        return None
    for name, ds in _REGISTRY.items():
        if any(f.path == remote.path for f in ds.files):
            return name
    return None


def verify_file(remote: RemoteFile, path: str | os.PathLike, *, dataset: str | None = None) -> Path:
    """Check that the file at ``path`` has the pinned sha256 of ``remote``.

    The result is cached in-process per (path, size, mtime), so loading a dataset repeatedly hashes
    its files once. A gzip-ed file is also accepted when its decompressed content has
    ``remote.uncompressed_sha256``.

    Raises
    ------
    DataChecksumError
        If the hash differs; the message names the file, the expected and actual hashes and how to
        re-fetch it.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, remote.sha256)
    if key in _VERIFIED:
        return path
    actual = _sha256_file(path)
    ok = actual == remote.sha256
    if not ok and remote.uncompressed_sha256 is not None:
        ok = _sha256_gunzip(path) == remote.uncompressed_sha256
    if not ok:
        dataset = dataset or _owner_dataset(remote)
        extra = (
            f" (or a gzip file whose decompressed content has sha256 {remote.uncompressed_sha256})"
            if remote.uncompressed_sha256
            else ""
        )
        how = (
            f"Delete it and download it again with {_fetch_hint(dataset)} (or load the task with download=True)."
            if remote.url
            else f"Delete it and obtain it again: {remote.note}"
        )
        raise DataChecksumError(
            f"Checksum mismatch for data file {path}: expected sha256 {remote.sha256}{extra}, got {actual}. "
            f"The file is corrupt, truncated or a different version. {how}"
        )
    _VERIFIED.add(key)
    return path


def _resolve_url(remote: RemoteFile, base_url: str | None) -> str:
    base = base_url if base_url is not None else os.environ.get(DATA_URL_ENV, "")
    url = remote.url
    if base and url and url.startswith(RAW_GITHUB + "/"):
        url = base.rstrip("/") + "/" + url[len(RAW_GITHUB) + 1 :]
    return url


def _not_found(remote: RemoteFile, path: Path, root: Path, dataset: str | None) -> DataFileNotFoundError:
    dataset = dataset or _owner_dataset(remote)
    msg = (
        f"Data file not found: {path} (looked in the data directory {root}, which is set by the "
        f"{DATA_DIR_ENV} environment variable or the data_dir argument)."
    )
    if remote.url:
        msg += (
            f" Download it with {_fetch_hint(dataset)} (or load the task with download=True); "
            f"upstream URL: {remote.url}"
        )
    else:
        msg += f" It cannot be downloaded automatically. {remote.note}"
    return DataFileNotFoundError(msg)


def download_file(
    remote: RemoteFile,
    data_dir: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    base_url: str | None = None,
    dataset: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``remote`` into the data directory, verifying it before it appears at its final path.

    The bytes are streamed with :mod:`urllib.request` into a temporary file in the target directory
    (with a tqdm progress bar), their sha256 is checked, and only then is the file moved into place
    with :func:`os.replace`. On any failure (HTTP error, checksum mismatch, interruption) the temporary
    files are deleted, so a failed download never leaves a file at the final path.

    For a file stored gzip-ed (``remote.uncompressed_sha256`` set), the downloaded bytes are accepted if
    they are the pinned gzip itself, a gzip whose content has the pinned uncompressed hash, or the
    uncompressed upstream bytes; the latter are gzip-ed into place deterministically (``mtime=0``).

    Parameters
    ----------
    remote : RemoteFile
    data_dir : str or path-like, optional
        See :func:`get_data_dir`.
    progress : bool, default=True
        Show a tqdm progress bar.
    base_url : str, optional
        Replaces ``https://raw.githubusercontent.com`` in the URL; defaults to the environment variable
        ``TLTAX_DATA_URL`` when set.
    dataset : str, optional
        Dataset name used in error messages.
    timeout : float, default=60
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        The final path.

    Raises
    ------
    DataFileNotFoundError
        If the file has no download URL.
    DataFileError
        If the download fails (HTTP error, network error).
    DataChecksumError
        If the downloaded bytes do not have the pinned hash.
    """
    root = get_data_dir(data_dir)
    final = root / remote.path
    if remote.url is None:
        raise _not_found(remote, final, root, dataset)
    url = _resolve_url(remote, base_url)
    final.parent.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    temps: list[Path] = []

    def _temp(suffix: str) -> Path:
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=suffix)
        os.close(fd)
        temps.append(Path(name))
        return temps[-1]

    try:
        raw = _temp(".part")
        h = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(raw, "wb") as out:
                total = resp.headers.get("Content-Length")
                total = int(total) if total and total.isdigit() else None
                received = 0
                with tqdm(
                    total=total, unit="B", unit_scale=True,
                    unit_divisor=1024, desc=remote.name, disable=not progress, leave=False,
                ) as bar:
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                if total is not None and received != total:
                    # http.client returns a short read silently when the connection drops.
                    raise DataFileError(
                        f"Could not download {remote.path} from {url}: the connection closed after {received} of "
                        f"{total} bytes. Nothing was written to {final}. Try again."
                    )
        except DataFileError:
            raise
        except urllib.error.HTTPError as exc:
            raise DataFileError(
                f"Could not download {remote.path} from {url}: HTTP {exc.code} {exc.reason}. Nothing was written to "
                f"{final}. Check the URL (or the {DATA_URL_ENV} mirror setting) and your connection, or copy "
                f"the file there by hand."
            ) from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise DataFileError(
                f"Could not download {remote.path} from {url}: {exc}. Nothing was written to {final}. Check the "
                f"URL (or the {DATA_URL_ENV} mirror setting) and your connection, or copy the file there by hand."
            ) from exc
        actual = h.hexdigest()
        source = raw
        if actual == remote.sha256:
            pass
        elif remote.uncompressed_sha256 is not None and actual == remote.uncompressed_sha256:
            gz = _temp(".gz.part")
            with open(raw, "rb") as src, open(gz, "wb") as dst_raw:
                with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=dst_raw, mtime=0) as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            source = gz
        elif (
            remote.uncompressed_sha256 is not None
            and _is_gzip(raw)
            and _sha256_gunzip(raw) == remote.uncompressed_sha256
        ):
            pass
        else:
            expected = remote.sha256 + (
                f" (or uncompressed {remote.uncompressed_sha256})" if remote.uncompressed_sha256 else ""
            )
            raise DataChecksumError(
                f"Checksum mismatch for the download of {remote.path} from {url}: expected sha256 {expected}, got "
                f"{actual}. The download was discarded and nothing was written to {final}. Try again with "
                f"{_fetch_hint(dataset or _owner_dataset(remote))}; if it keeps failing the upstream file changed "
                f"or a mirror ({DATA_URL_ENV}) serves a different file."
            )
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(source, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(source, final)
        temps.remove(source)
        st = final.stat()
        _VERIFIED.add((str(final.resolve()), st.st_size, st.st_mtime_ns, remote.sha256))
        return final
    finally:
        for t in temps:
            try:
                t.unlink()
            except FileNotFoundError:
                pass


def ensure_file(
    remote: RemoteFile,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    progress: bool = True,
    *,
    base_url: str | None = None,
    dataset: str | None = None,
) -> Path:
    """Return the verified local path of ``remote``, downloading it first if asked.

    Parameters
    ----------
    remote : RemoteFile
    data_dir : str or path-like, optional
        See :func:`get_data_dir`.
    download : bool, default=False
        Download the file if it is missing.
    progress : bool, default=True
        Show a progress bar while downloading.
    base_url : str, optional
        See :func:`download_file`.
    dataset : str, optional
        Dataset name used in error messages (``tltax data fetch <dataset>``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DataFileNotFoundError
        If the file is missing and ``download`` is False; the message names the full path, the
        ``TLTAX_DATA_DIR`` setting, the fetch command and the upstream URL.
    DataChecksumError
        If the file exists (or was downloaded) with the wrong sha256.
    """
    root = get_data_dir(data_dir)
    path = root / remote.path
    if path.is_file():
        return verify_file(remote, path, dataset=dataset)
    if not download:
        raise _not_found(remote, path, root, dataset)
    return download_file(remote, root, progress=progress, base_url=base_url, dataset=dataset)


# ---------------------------------------------------------------------------------------------
# Archives. The loaders read the members they need straight into memory (regular files only, names
# checked against the expected layout and by :func:`check_member_name`); :func:`safe_extract` is the one
# place that writes members to disk, and it refuses the whole archive before writing anything if a member
# could land outside the destination.
# ---------------------------------------------------------------------------------------------
def check_member_name(name: str, archive: str | os.PathLike) -> str:
    """Refuse an archive member whose name is absolute or climbs out of the extraction directory.

    Raises
    ------
    DataFileError
        For ``/abs/path``, ``C:\\path``, a name with a ``..`` component, or an empty / NUL-bearing name.
    """
    parts = name.replace("\\", "/").split("/")
    if (
        not name
        or "\x00" in name
        or name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or ".." in parts
    ):
        raise DataFileError(
            f"Refusing archive member {name!r} of {archive}: an absolute path or a '..' component would be written "
            "outside the extraction directory. The archive is not a trusted one; obtain the file again from its pinned "
            "source (`tltax data fetch DATASET`)."
        )
    return name


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract a tar (any compression) or zip ``archive`` into ``dest``, refusing unsafe members.

    Every member is checked before anything is written: names that are absolute or contain ``..``,
    symbolic or hard links (in a tar), devices and FIFOs are refused with a
    :class:`~tltaxonomy._errors.DataFileError` naming the member. On Python versions with tarfile
    extraction filters, the ``"data"`` filter is applied as well (defence in depth).

    Returns
    -------
    list of Path
        The extracted regular files.
    """
    import tarfile
    import zipfile

    archive, dest = Path(archive), Path(dest)
    root = dest.resolve()

    def inside(name: str) -> Path:
        check_member_name(name, archive)
        target = (root / name).resolve()
        if target != root and root not in target.parents:
            raise DataFileError(f"Refusing archive member {name!r} of {archive}: it resolves outside {dest}.")
        return target

    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                inside(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symlink stored by Info-ZIP
                    raise DataFileError(f"Refusing archive member {info.filename!r} of {archive}: a symbolic link.")
            dest.mkdir(parents=True, exist_ok=True)
            for info in infos:
                zf.extract(info, root)
                if not info.is_dir():
                    written.append(inside(info.filename))
        return written
    try:
        tar = tarfile.open(archive)
    except tarfile.TarError as exc:
        raise DataFileError(f"{archive} is neither a tar nor a zip archive ({exc}).") from exc
    with tar:
        members = tar.getmembers()
        for m in members:
            inside(m.name)
            if not (m.isfile() or m.isdir()):
                kind = "link" if (m.issym() or m.islnk()) else "special file"
                raise DataFileError(
                    f"Refusing archive member {m.name!r} of {archive}: a {kind} (only regular files and directories "
                    "are extracted)."
                )
        dest.mkdir(parents=True, exist_ok=True)
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        for m in members:
            tar.extract(m, root, **extra)
            if m.isfile():
                written.append(inside(m.name))
    return written
