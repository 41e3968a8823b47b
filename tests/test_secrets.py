from console.core.secrets import mask_url, passwords_in, scrub


def test_mask_url_hides_only_passwords():
    assert mask_url("amqp://guest:s3cret@h:5672//") == "amqp://guest:****@h:5672//"
    assert mask_url("redis://:pw@localhost:6379/0") == "redis://:****@localhost:6379/0"
    assert mask_url("redis://localhost:6379/1") == "redis://localhost:6379/1"
    assert mask_url("filesystem://") == "filesystem://"
    assert mask_url("amqp://a:x@h1//;amqp://b:y@h2//") == "amqp://a:****@h1//;amqp://b:****@h2//"


def test_scrub_removes_the_password_from_any_text():
    url = "amqp://guest:p%40ss@h//"
    assert set(passwords_in(url)) == {"p%40ss", "p@ss"}
    text = "login for guest with password p@ss refused at amqp://guest:p%40ss@h//"
    cleaned = scrub(text, url)
    assert "p@ss" not in cleaned and "p%40ss" not in cleaned
    assert "****" in cleaned


def test_unencoded_special_characters_in_passwords():
    for url, password in (("amqp://user:p@ss@host:5672//", "p@ss"),
                          ("amqp://user:pa/ss@host:5672//", "pa/ss"),
                          ("redis://:ab:cd@host:6379/0", "ab:cd")):
        masked = mask_url(url)
        assert password not in masked and "****@host" in masked, masked
        assert password not in scrub(f"failed: {password} at {url}", url)
    assert mask_url("amqp://a:x@h1//;amqp://b:y@h2//") == "amqp://a:****@h1//;amqp://b:****@h2//"
    # A password that also spells part of the scheme must not mangle it.
    assert scrub("amqp://u:p@h//", "amqp://u:p@h//").startswith("amqp://u:****@h")
