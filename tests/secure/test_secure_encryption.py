"""Flash encryption and decryption against espsecure 5.6 and the encrypted fixture binaries."""

from __future__ import annotations

import importlib.util
import io
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from espforge.secure.errors import SecureError
from espforge.secure.flash_encryption import (
    decrypt_flash_data,
    encrypt_flash_data,
    generate_flash_encryption_key,
)

pytestmark = pytest.mark.oracle
espsecure = pytest.importorskip("espsecure", reason="espsecure (test-only oracle) is absent")

CRYPT_CONFS = range(16)
ESP32_ADDRESSES = (0x0, 0x10, 0x1000, 0x10030, 0x3FFFE0, 0xFFFF00)
XTS_ADDRESSES = (0x0, 0x10, 0x70, 0x80, 0x1000, 0x12350, 0x7FFFFFF0, 0xFFFFF000)


def pseudo_random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name  # espsecure refuses an output named like an input
    return handle


def espsecure_crypt(
    encrypt: bool, key: bytes, data: bytes, address: int, conf: int = 0xF, aes_xts: bool = False
) -> bytes:
    """What espsecure's encrypt-flash-data or decrypt-flash-data writes for the same inputs."""
    operation = espsecure.encrypt_flash_data if encrypt else espsecure.decrypt_flash_data
    output = named(b"", "output.bin")
    operation(named(key, "key.bin"), output, address, conf, aes_xts, named(data, "input.bin"))
    return output.getvalue()


def assert_both_directions_match(
    key: bytes, data: bytes, address: int, conf: int = 0xF, aes_xts: bool = False
) -> None:
    encrypted = encrypt_flash_data(key, data, address, conf, aes_xts)
    assert encrypted == espsecure_crypt(True, key, data, address, conf, aes_xts)
    assert decrypt_flash_data(key, data, address, conf, aes_xts) == espsecure_crypt(
        False, key, data, address, conf, aes_xts
    )
    assert decrypt_flash_data(key, encrypted, address, conf, aes_xts) == data


# --- the fixtures: which key, address and settings made each was checked with espsecure ---

FIXTURE_CASES = [
    ("bootloader-encrypted.bin", "bootloader.bin", "256bit_key.bin", 0x1000, 0xF, False),
    ("bootloader-encrypted-conf0.bin", "bootloader.bin", "256bit_key.bin", 0x1000, 0x0, False),
    ("bootloader-encrypted-conf3.bin", "bootloader.bin", "256bit_key.bin", 0x1000, 0x3, False),
    ("bootloader-encrypted-conf9.bin", "bootloader.bin", "256bit_key.bin", 0x1000, 0x9, False),
    ("bootloader-encrypted-aes-xts.bin", "bootloader.bin", "256bit_key.bin", 0x1000, 0xF, True),
    (
        "hello-world-signed-encrypted.bin",
        "hello-world-signed.bin",
        "ef-flashencryption-key.bin",
        0x20000,
        0xF,
        False,
    ),
    (
        "hello-world-signed-encrypted-aes-xts.bin",
        "hello-world-signed.bin",
        "ef-flashencryption-key.bin",
        0x20000,
        0xF,
        True,
    ),
]


@pytest.mark.parametrize(
    ("encrypted_name", "plain_name", "key_name", "address", "conf", "aes_xts"),
    FIXTURE_CASES,
    ids=[case[0] for case in FIXTURE_CASES],
)
def test_fixture_binaries(encrypted_name, plain_name, key_name, address, conf, aes_xts):
    encrypted = fixture_path("secure", encrypted_name).read_bytes()
    plain = fixture_path("secure", plain_name).read_bytes()
    key = fixture_path("secure", key_name).read_bytes()
    assert encrypt_flash_data(key, plain, address, conf, aes_xts) == encrypted
    assert decrypt_flash_data(key, encrypted, address, conf, aes_xts) == plain


@pytest.mark.parametrize("key_name", ["256bit_key.bin", "512bit_key.bin"])
def test_xts_fixture_keys_at_several_addresses(key_name):
    key = fixture_path("secure", key_name).read_bytes()
    plain = fixture_path("secure", "bootloader.bin").read_bytes()
    for address in (0x0, 0x1000, 0x10010):
        assert_both_directions_match(key, plain, address, aes_xts=True)


# --- the ESP32 scheme ---


@pytest.mark.parametrize("key_bytes", [32, 24], ids=["256-bit", "192-bit"])
@pytest.mark.parametrize("conf", CRYPT_CONFS, ids=[f"conf{conf:x}" for conf in CRYPT_CONFS])
def test_esp32_scheme_matches_espsecure(conf, key_bytes):
    key = pseudo_random(key_bytes, conf)
    for index, address in enumerate(ESP32_ADDRESSES):
        assert_both_directions_match(key, pseudo_random(16 * (index + 5), index), address, conf)


def test_esp32_key_tweak_across_the_whole_flash():
    """One span at 512 addresses spread over 16 MB touches every offset bit of the tweak."""
    key = pseudo_random(32, 7)
    addresses = random.Random(8).sample(range(0, 1 << 24, 32), 512)
    for conf in (0x1, 0x2, 0x4, 0x8, 0xF):
        for address in addresses:
            data = address.to_bytes(32, "little")
            assert encrypt_flash_data(key, data, address, conf) == espsecure_crypt(
                True, key, data, address, conf
            )


def test_esp32_192_bit_key_is_the_256_bit_key_it_expands_to():
    short = pseudo_random(24, 1)
    data = pseudo_random(96, 2)
    expanded = short + short[8:16]
    assert encrypt_flash_data(short, data, 0x8000) == encrypt_flash_data(expanded, data, 0x8000)


def test_esp32_encrypt_pads_a_partial_block_with_random_bytes():
    key = pseudo_random(32, 3)
    data = pseudo_random(21, 4)
    encrypted = encrypt_flash_data(key, data, 0x1000)
    assert len(encrypted) == 32
    assert decrypt_flash_data(key, encrypted, 0x1000)[:21] == data


def test_esp32_empty_data_gives_empty_output():
    assert encrypt_flash_data(pseudo_random(32, 5), b"", 0x1000) == b""


def test_esp32_last_span_of_16_mb_is_accepted():
    key = pseudo_random(32, 6)
    assert_both_directions_match(key, pseudo_random(64, 7), (1 << 24) - 64)


@pytest.mark.slow
@pytest.mark.parametrize("conf", [0x0, 0x5, 0xF])
def test_esp32_one_megabyte_matches_espsecure(conf):
    key = pseudo_random(32, conf)
    assert_both_directions_match(key, pseudo_random(1 << 20, conf), 0x110010, conf)


# --- the AES-XTS scheme ---


@pytest.mark.parametrize("key_bytes", [16, 32, 64], ids=["128-bit", "256-bit", "512-bit"])
def test_xts_scheme_matches_espsecure(key_bytes):
    key = pseudo_random(key_bytes, key_bytes)
    for index, address in enumerate(XTS_ADDRESSES):
        for blocks in (1, 7, 8, 9, 40):
            assert_both_directions_match(
                key, pseudo_random(16 * blocks, index), address, aes_xts=True
            )


def test_xts_ignores_flash_crypt_conf():
    key = pseudo_random(64, 9)
    data = pseudo_random(256, 10)
    assert encrypt_flash_data(key, data, 0x2000, 0x0, True) == encrypt_flash_data(
        key, data, 0x2000, 0xF, True
    )


@pytest.mark.slow
@pytest.mark.parametrize("key_bytes", [32, 64])
def test_xts_one_megabyte_matches_espsecure(key_bytes):
    key = pseudo_random(key_bytes, 11)
    assert_both_directions_match(key, pseudo_random(1 << 20, 12), 0x10040, aes_xts=True)


# --- properties ---

esp32_keys = st.sampled_from([24, 32]).flatmap(lambda size: st.binary(min_size=size, max_size=size))
xts_keys = (
    st.sampled_from([16, 32, 64])
    .flatmap(lambda size: st.binary(min_size=size, max_size=size))
    .filter(lambda key: len(key) == 16 or key[: len(key) // 2] != key[len(key) // 2 :])
)
blocks = st.integers(1, 24).flatmap(
    lambda count: st.binary(min_size=16 * count, max_size=16 * count)
)


@settings(max_examples=60, deadline=None)
@given(
    key=esp32_keys,
    data=blocks,
    span=st.integers(0, (1 << 20) - 24),  # the data stays below 16 MB
    conf=st.integers(0, 15),
)
def test_esp32_round_trip_and_oracle(key, data, span, conf):
    address = span * 16
    encrypted = encrypt_flash_data(key, data, address, conf)
    assert len(encrypted) == len(data)
    assert decrypt_flash_data(key, encrypted, address, conf) == data
    assert encrypted == espsecure_crypt(True, key, data, address, conf)


@settings(max_examples=60, deadline=None)
@given(key=xts_keys, data=blocks, span=st.integers(0, (1 << 28) - 24))
def test_xts_round_trip_and_oracle(key, data, span):
    address = span * 16
    encrypted = encrypt_flash_data(key, data, address, aes_xts=True)
    assert len(encrypted) == len(data)
    assert decrypt_flash_data(key, encrypted, address, aes_xts=True) == data
    assert encrypted == espsecure_crypt(True, key, data, address, aes_xts=True)


# --- key generation ---


@pytest.mark.parametrize("bits", [128, 192, 256, 512])
def test_generated_key_has_the_requested_length(bits):
    first, second = generate_flash_encryption_key(bits), generate_flash_encryption_key(bits)
    assert len(first) == bits // 8
    assert first != second


@pytest.mark.parametrize("bits", [0, 64, 100, 384, 1024])
def test_generated_key_length_is_checked(bits):
    with pytest.raises(SecureError, match=f"--keylen {bits} "):
        generate_flash_encryption_key(bits)


# --- bad input: one line naming the file ---


def assert_one_line(error: pytest.ExceptionInfo[SecureError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("key_bytes", [0, 16, 31, 33, 64])
def test_esp32_refuses_wrong_key_size(key_bytes):
    with pytest.raises(SecureError) as error:
        encrypt_flash_data(bytes(range(key_bytes)), bytes(32), 0, key_source="fe.key")
    assert_one_line(error, "fe.key", f"{key_bytes * 8}-bit", "192 or 256-bit", "--aes-xts")


@pytest.mark.parametrize("key_bytes", [0, 24, 48, 65])
def test_xts_refuses_wrong_key_size(key_bytes):
    with pytest.raises(SecureError) as error:
        decrypt_flash_data(bytes(range(key_bytes)), bytes(32), 0, aes_xts=True, key_source="k.bin")
    assert_one_line(error, "k.bin", f"{key_bytes * 8}-bit", "128, 256 or 512-bit")


@pytest.mark.parametrize("aes_xts", [False, True])
@pytest.mark.parametrize("address", [0x8, 0x1001, -16])
def test_refuses_unaligned_address(address, aes_xts):
    with pytest.raises(SecureError) as error:
        encrypt_flash_data(
            pseudo_random(32, 1), bytes(32), address, aes_xts=aes_xts, source="a.bin"
        )
    assert_one_line(error, "a.bin", "multiple of 16", "--address")


@pytest.mark.parametrize("conf", [-1, 0x10, 0xFF])
def test_refuses_flash_crypt_conf_out_of_range(conf):
    with pytest.raises(SecureError) as error:
        encrypt_flash_data(pseudo_random(32, 1), bytes(32), 0, conf)
    assert_one_line(error, "--flash-crypt-conf", "0x0 to 0xF")


@pytest.mark.parametrize("aes_xts", [False, True])
def test_decrypt_refuses_a_partial_block(aes_xts):
    with pytest.raises(SecureError) as error:
        decrypt_flash_data(pseudo_random(32, 1), bytes(40), 0, aes_xts=aes_xts, source="dump.bin")
    assert_one_line(error, "dump.bin", "40 bytes", "multiple of 16")


def test_xts_encrypt_refuses_a_partial_block():
    with pytest.raises(SecureError, match="multiple of 16"):
        encrypt_flash_data(pseudo_random(32, 1), bytes(40), 0, aes_xts=True)


def test_xts_refuses_empty_data():
    with pytest.raises(SecureError) as error:
        encrypt_flash_data(pseudo_random(32, 1), b"", 0, aes_xts=True, source="empty.bin")
    assert_one_line(error, "empty.bin", "is empty")


def test_xts_refuses_a_key_with_equal_halves():
    with pytest.raises(SecureError) as error:
        encrypt_flash_data(bytes(32), bytes(32), 0, aes_xts=True, key_source="zero.key")
    assert_one_line(error, "zero.key", "halves")


def test_esp32_refuses_data_past_16_mb():
    with pytest.raises(SecureError) as error:
        encrypt_flash_data(pseudo_random(32, 1), bytes(64), (1 << 24) - 32, source="big.bin")
    assert_one_line(error, "big.bin", "16 MB", "--address")


def test_xts_refuses_data_past_4_gb():
    with pytest.raises(SecureError) as error:
        encrypt_flash_data(pseudo_random(32, 1), bytes(64), (1 << 32) - 32, aes_xts=True)
    assert_one_line(error, "4 GB", "--address")


def test_xts_last_unit_below_4_gb_is_accepted():
    key = pseudo_random(64, 13)
    assert_both_directions_match(key, pseudo_random(128, 14), (1 << 32) - 128, aes_xts=True)


# --- the benchmark script ---

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "secure_bench.py"


def test_benchmark_times_every_case_with_the_same_output(monkeypatch):
    spec = importlib.util.spec_from_file_location("espforge_secure_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    cases = bench.all_cases()
    results = bench.measure(
        cases,
        runs=1,
        size=4096,
        reference=bench.espsecure_in_process,
        candidate=bench.espforge_in_process,
    )
    assert len(results) == 6
    assert all(result.same_output and result.espforge > 0 for result in results)
    table = bench.render(results, runs=1, size=4096, mode="library calls")
    assert "secure encrypt-flash-data AES-XTS 512" in table
    assert [case.name for case in bench.all_cases("ESP32")] == [
        "secure encrypt-flash-data ESP32 conf 0xF",
        "secure decrypt-flash-data ESP32 conf 0xF",
    ]
