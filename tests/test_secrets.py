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
